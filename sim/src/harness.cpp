// The C interface between Rust and one Verilated Monorail core (generated: the port table).
#include <cstdint>
#include <cstring>
#include "Vtop.h"
#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#else
// A build without tracing (VM_TRACE 0): nothing is ever dumped.
struct VerilatedVcdC { void dump(uint64_t) {} void close() {} };
#endif

namespace {
struct Model {
    VerilatedContext* context;
    Vtop* top;
    VerilatedVcdC* trace;
    // Half clock periods since the start, and the length of one in the waveform's picoseconds
    // (the core's clock's, set when a waveform is opened).
    uint64_t halves;
    uint64_t half_period_ps;
};

template <typename T>
void put(T& port, const uint32_t* words) { port = static_cast<T>(words[0] | (uint64_t(words[1]) << 32)); }
template <std::size_t N>
void put(VlWide<N>& port, const uint32_t* words) { for (std::size_t i = 0; i < N; ++i) port[i] = words[i]; }
template <typename T>
void take(const T& port, uint32_t* words) { uint64_t v = port; words[0] = uint32_t(v); words[1] = uint32_t(v >> 32); }
template <std::size_t N>
void take(const VlWide<N>& port, uint32_t* words) { for (std::size_t i = 0; i < N; ++i) words[i] = port[i]; }

void half(Model* m, int level) {
    m->top->clock = level;
    m->top->eval();
    if (m->trace) m->trace->dump(m->halves * m->half_period_ps);
    m->halves += 1;
}
}  // namespace

extern "C" {
void* mr_new(int argc, const char** argv) {
    Model* m = new Model;
    m->context = new VerilatedContext;
    m->context->commandArgs(argc, argv);
#if VM_TRACE
    m->context->traceEverOn(true);
#endif
    m->top = new Vtop{m->context};
    m->trace = nullptr;
    m->halves = 0;
    m->half_period_ps = 5;
    // Evaluate once with the clock low, so that the first rising edge is seen.
    m->top->clock = 0;
    m->top->eval();
    return m;
}

void mr_free(void* p) {
    Model* m = static_cast<Model*>(p);
    if (m->trace) { m->trace->close(); delete m->trace; }
    m->top->final();
    delete m->top;
    delete m->context;
    delete m;
}

// Words of 32 bits, lowest first, at least two.
int mr_set(void* p, int port, const uint32_t* words) {
    Vtop* t = static_cast<Model*>(p)->top;
    switch (port) {
@SET_CASES@
        default: return -1;
    }
    return 0;
}

int mr_get(void* p, int port, uint32_t* words) {
    Vtop* t = static_cast<Model*>(p)->top;
    switch (port) {
@GET_CASES@
        default: return -1;
    }
    return 0;
}

void mr_eval(void* p) { static_cast<Model*>(p)->top->eval(); }

// `n` clock cycles: rising edge, then falling edge.
void mr_tick(void* p, uint64_t n) {
    Model* m = static_cast<Model*>(p);
    for (uint64_t i = 0; i < n; ++i) {
        half(m, 1);
        half(m, 0);
    }
}

int mr_trace_open(void* p, const char* path, uint64_t half_period_ps) {
    Model* m = static_cast<Model*>(p);
    if (m->trace || half_period_ps == 0) return -1;
    m->half_period_ps = half_period_ps;
#if VM_TRACE
    m->trace = new VerilatedVcdC;
    m->top->trace(m->trace, 99);
    m->trace->open(path);
    return m->trace->isOpen() ? 0 : -1;
#else
    (void)path;
    return -2;  // NOT_TRACED
#endif
}

void mr_trace_close(void* p) {
    Model* m = static_cast<Model*>(p);
    if (m->trace) { m->trace->close(); delete m->trace; m->trace = nullptr; }
}
}
