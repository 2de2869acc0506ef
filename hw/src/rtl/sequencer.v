// The sequencer: fetches the program, works out each instruction's occupancy and latency from
// its fields and the position (the contract's cost rules), and issues one instruction per cycle
// in program order once its unit is free and its wait is satisfied. It keeps the register file
// and, per unit, the completion times of its last @RING@ instructions (a wait names one of them).
// Cycle 0 of a token step is the first cycle the first instruction can issue.
//
// Pipeline: fetch (program memory, registered) -> FIFO (4) -> D1 (fields) -> D2 (lengths, words,
// blocks, their product) -> D3 (occupancy, latency) -> I (issue). The issue bus to the units is
// registered.

@OPCODES@
localparam [2:0] K_IDLE = 3'd0, K_END = 3'd1, K_FIXED = 3'd2, K_VECTOR = 3'd3,
                 K_ELEMENT = 3'd4, K_MATRIX = 3'd5, K_MSTORE = 3'd6;
localparam [1:0] S_IDLE = 2'd0, S_PRIME = 2'd1, S_RUN = 2'd2;

// ---- program memory --------------------------------------------------------------------
// Only the low @IB@ bits of an instruction are stored: no format uses the others.
reg [@IB@-1:0] program_words [0:@PROGRAM_WORDS@-1];
`ifdef VERILATOR
reg [8*1024-1:0] bundle_dir;
initial begin
    if ($value$plusargs("@BUNDLE_PLUSARG@=%s", bundle_dir))
        $readmemh($sformatf("%0s/program.hex", bundle_dir), program_words);
end
`elsif MONORAIL_INIT
initial $readmemh("program.hex", program_words);
`endif
reg [1:0] state;
reg [@PB@-1:0] fetch_pc;
wire [@PB@-1:0] program_addr = (state == S_IDLE) ? prog_addr[@PB@-1:0] : fetch_pc;
reg [@IB@-1:0] fetch_stored;
always @(posedge clock) begin
    if (prog_we && state == S_IDLE) program_words[prog_addr[@PB@-1:0]] <= prog_wdata[@IB@-1:0];
    fetch_stored <= program_words[program_addr];
end
wire [127:0] fetch_data = {{(128-@IB@){1'b0}}, fetch_stored};
wire unused_prog_wdata = &{1'b0, prog_wdata[127:@IB@]};
always @(*) prog_rdata = fetch_data;

// ---- fetch FIFO ------------------------------------------------------------------------
reg [127:0] fifo_data [0:3];
reg [1:0] fifo_rd, fifo_wr;
reg [2:0] fifo_count;
reg fetch_pending;
wire running = (state != S_IDLE);
// Stage valid bits (a rigid pipeline: everything moves when the issue stage frees).
reg d1_valid, d2_valid, d3_valid, i_valid;
wire issue_now;
wire advance = !i_valid || issue_now;
wire fifo_pop = running && advance && fifo_count != 3'd0;
wire fifo_push = running && fetch_pending;
wire fetch_now = running && (fifo_count + {2'b0, fetch_pending} < 3'd3);
always @(posedge clock) begin
    if (reset || start) begin
        fifo_rd <= 2'd0;
        fifo_wr <= 2'd0;
        fifo_count <= 3'd0;
        fetch_pending <= 1'b0;
        fetch_pc <= {@PB@{1'b0}};
    end else if (running) begin
        fetch_pending <= fetch_now;
        if (fetch_now) fetch_pc <= fetch_pc + 1'b1;
        if (fifo_push) begin
            fifo_data[fifo_wr] <= fetch_data;
            fifo_wr <= fifo_wr + 1'b1;
        end
        if (fifo_pop) fifo_rd <= fifo_rd + 1'b1;
        fifo_count <= fifo_count + {2'b0, fifo_push} - {2'b0, fifo_pop};
    end
end

// ---- D1: static decode -------------------------------------------------------------------
reg [127:0] d1_instr;
reg [15:0] d1_index;
reg [15:0] next_index;
always @(posedge clock) begin
    if (reset || start) begin
        d1_valid <= 1'b0;
        next_index <= 16'd0;
    end else if (running && advance) begin
        d1_valid <= fifo_pop;
        d1_instr <= fifo_data[fifo_rd];
        d1_index <= next_index;
        if (fifo_pop) next_index <= next_index + 1'b1;
    end
end

wire [7:0] d1_opcode = d1_instr[7:0];
reg [1:0] d1_unit;
reg [2:0] d1_kind;
reg [16:0] d1_len_raw;
reg d1_len_is_n;
reg [15:0] d1_start;
reg [15:0] d1_cols;
reg d1_has_cols, d1_x_block, d1_pairs, d1_two_passes, d1_reduce;
reg [7:0] d1_fixed_occ, d1_fixed_lat;
reg [5:0] d1_ra, d1_rb;
always @(*) begin
    d1_unit = 2'd0;
    d1_kind = K_FIXED;
    d1_len_raw = 17'd0;
    d1_len_is_n = 1'b0;
    d1_start = 16'd0;
    d1_cols = 16'd0;
    d1_has_cols = 1'b0;
    d1_x_block = 1'b0;
    d1_pairs = 1'b0;
    d1_two_passes = 1'b0;
    d1_reduce = 1'b0;
    d1_fixed_occ = 8'd1;
    d1_fixed_lat = 8'd1;
    d1_ra = 6'd0;
    d1_rb = 6'd0;
    case (d1_opcode)
@DECODE@
        default: ;
    endcase
end

// ---- D2: lengths at this position, words and blocks ------------------------------------------
reg [127:0] d2_instr;
reg [15:0] d2_index;
reg [1:0] d2_unit;
reg [2:0] d2_kind;
reg [17:0] d2_len;
reg [@LOG_V@:0] d2_lane;
reg [15:0] d2_cols_e;
reg d2_x_block, d2_pairs, d2_two_passes, d2_reduce;
reg [7:0] d2_fixed_occ, d2_fixed_lat;
reg [5:0] d2_ra, d2_rb;
reg [15:0] pos_q;
wire [17:0] d1_len = d1_len_is_n && d1_len_raw[16]
    ? {2'b0, d1_len_raw[15:0]} + {2'b0, pos_q} + 18'd1
    : {1'b0, d1_len_raw};
always @(posedge clock) begin
    if (reset || start) d2_valid <= 1'b0;
    else if (running && advance) begin
        d2_valid <= d1_valid;
        d2_instr <= d1_instr;
        d2_index <= d1_index;
        d2_unit <= d1_unit;
        d2_kind <= d1_kind;
        d2_len <= d1_len;
        d2_lane <= {1'b0, d1_start[@LOG_V@-1:0]};
        d2_cols_e <= (d1_has_cols && d1_cols > 16'd@DRAIN@) ? d1_cols : 16'd@DRAIN@;
        d2_x_block <= d1_x_block;
        d2_pairs <= d1_pairs;
        d2_two_passes <= d1_two_passes;
        d2_reduce <= d1_reduce;
        d2_fixed_occ <= d1_fixed_occ;
        d2_fixed_lat <= d1_fixed_lat;
        d2_ra <= d1_ra;
        d2_rb <= d1_rb;
    end
end

// ---- D3: occupancy and latency --------------------------------------------------------------
reg [127:0] d3_instr;
reg [15:0] d3_index;
reg [1:0] d3_unit;
reg [2:0] d3_kind;
reg [17:0] d3_len;
reg [17:0] d3_words;
// A matrix instruction's cycles (blocks x columns), multiplied on the way into D3, so that the
// product's register (the multiplier's own) starts D3's paths to the occupancy and latency.
reg [33:0] d3_block_cycles;
reg d3_x_block, d3_pairs, d3_two_passes, d3_reduce;
reg [7:0] d3_fixed_occ, d3_fixed_lat;
reg [5:0] d3_ra, d3_rb;
// Words of the vector space that `len` elements from lane `lane` touch.
wire [18:0] d2_span = {1'b0, d2_len} + {{(18-@LOG_V@){1'b0}}, d2_lane} + 19'd@V_MINUS_1@;
wire [18:0] d2_span_words = d2_span >> @LOG_V@;
wire unused_widths = &{1'b0, d2_span_words[18], d2_blocks[18], d1_start[15:@LOG_V@]@PROG_UNUSED@};
wire [17:0] d2_words = (d2_len == 18'd0) ? 18'd0 : d2_span_words[17:0];
wire [18:0] d2_rows_up = {1'b0, d2_len} + 19'd@L_MINUS_1@;
wire [18:0] d2_blocks = d2_rows_up >> @LOG_L@;
always @(posedge clock) begin
    if (reset || start) d3_valid <= 1'b0;
    else if (running && advance) begin
        d3_valid <= d2_valid;
        d3_instr <= d2_instr;
        d3_index <= d2_index;
        d3_unit <= d2_unit;
        d3_kind <= d2_kind;
        d3_len <= d2_len;
        d3_words <= d2_words;
        d3_x_block <= d2_x_block;
        d3_pairs <= d2_pairs;
        d3_two_passes <= d2_two_passes;
        d3_reduce <= d2_reduce;
        d3_fixed_occ <= d2_fixed_occ;
        d3_fixed_lat <= d2_fixed_lat;
        d3_ra <= d2_ra;
        d3_rb <= d2_rb;
    end
end
@BLOCK_CYCLES_PRODUCT@// Two-pass instructions stream at least one word a pass.
wire [17:0] d3_pass_words = (d3_two_passes && d3_words == 18'd0) ? 18'd1 : d3_words;
wire [31:0] d3_stream = (d3_pairs ? ({14'd0, d3_pass_words} << @LOG_HALF_V@) : {14'd0, d3_pass_words})
    << d3_two_passes;
reg [31:0] d3_occ, d3_lat;
always @(*) begin
    d3_occ = 32'd1;
    d3_lat = 32'd1;
    case (d3_kind)
        K_IDLE: begin
            d3_occ = (d3_len == 18'd0) ? 32'd1 : {14'd0, d3_len};
            d3_lat = d3_occ;
        end
        K_END: ;
        K_FIXED: begin
            d3_occ = {24'd0, d3_fixed_occ};
            d3_lat = {24'd0, d3_fixed_lat};
        end
        K_ELEMENT: begin
            d3_occ = 32'd1;
            d3_lat = 32'd@ELEMENT_LATENCY@ + (d3_reduce ? 32'd@LOG_V@ : 32'd0);
        end
        K_VECTOR: begin
            d3_occ = d3_stream + (d3_two_passes ? 32'd@NORM_GAP@ : 32'd0);
            if (d3_occ == 32'd0) d3_occ = 32'd1;
            d3_lat = d3_occ + 32'd@VXU@ + (d3_reduce ? 32'd@LOG_V@ : 32'd0);
        end
        K_MATRIX: begin
            d3_occ = (d3_block_cycles == 34'd0) ? 32'd1 : d3_block_cycles[31:0];
            if (d3_x_block) d3_occ = d3_occ + 32'd@DRAIN@;
            d3_lat = d3_occ + 32'd@MXU_PLUS_DRAIN@;
        end
        K_MSTORE: begin
            d3_occ = (d3_len == 18'd0) ? 32'd2 : {13'd0, d3_len, 1'b0};
            d3_lat = d3_occ + 32'd@VXU@;
        end
        default: ;
    endcase
end

// ---- I: issue ----------------------------------------------------------------------------
reg [127:0] i_instr;
reg [15:0] i_index;
reg [1:0] i_unit;
reg [2:0] i_kind;
reg [17:0] i_len;
reg [31:0] i_occ, i_lat;
reg [5:0] i_ra, i_rb;
always @(posedge clock) begin
    if (reset || start) i_valid <= 1'b0;
    else if (running && advance) begin
        i_valid <= d3_valid;
        i_instr <= d3_instr;
        i_index <= d3_index;
        i_unit <= d3_unit;
        i_kind <= d3_kind;
        i_len <= d3_len;
        i_occ <= d3_occ;
        i_lat <= d3_lat;
        i_ra <= d3_ra;
        i_rb <= d3_rb;
    end
end

reg [31:0] now_q;
reg [31:0] seq_free;
reg [31:0] free_at [0:3];
reg [31:0] last_done [1:3];   // (the sequencer's own instructions complete in order: none)
reg [15:0] issued [0:3];
// Completion times of each unit's last @RING@ instructions (distributed RAM; timing::completion_ring).
reg [31:0] ring_mxu [0:@RING@-1];
reg [31:0] ring_vxu [0:@RING@-1];
reg [31:0] ring_sxu [0:@RING@-1];

// The issue conditions are registered flags, each saying whether it holds at now_q, so the
// issue decision is a few gates from registers: they are worked out a cycle ahead from the
// state this cycle leaves (now_q + 1 and this cycle's issue, if any).
reg seq_ready;           // now_q >= seq_free
reg [3:0] unit_ready;    // free_at[u] <= now_q
reg [3:1] unit_done;     // last_done[u] <= now_q (units 1 to 3)
// The wait of the instruction in I (loaded with it): the unit it names, whether the awaited
// instruction has issued, whether it is too old for the ring (so complete), its completion.
reg [1:0] i_wait_unit;
reg i_wait_issued, i_wait_old, i_wait_met;
reg [31:0] i_wait_time;
reg [31:0] now_next;     // now_q + 1
wire [1:0] d3_wait_unit = d3_instr[9:8];
wire [13:0] d3_wait_count = d3_instr[23:10];
wire [@RB@-1:0] d3_wait_slot = d3_wait_count[@RB@-1:0] - @RB@'d1;
reg [31:0] d3_ring_time;
always @(*) begin
    case (d3_wait_unit)
        2'd1: d3_ring_time = ring_mxu[d3_wait_slot];
        2'd2: d3_ring_time = ring_vxu[d3_wait_slot];
        default: d3_ring_time = ring_sxu[d3_wait_slot];
    endcase
end
wire wait_ok = (i_wait_unit == 2'd0) || (i_wait_issued && (i_wait_old || i_wait_met));
wire unit_ok = (i_unit == 2'd0) || unit_ready[i_unit];
wire end_ok = (i_kind != K_END) || (unit_done[1] && unit_done[2] && unit_done[3]);
assign issue_now = (state == S_RUN) && i_valid && seq_ready && unit_ok && wait_ok && end_ok;
`ifdef VERILATOR
// Co-simulation tests: +monorail_fault_latency=N counts N cycles too few for the vector unit.
reg [31:0] fault_latency;
initial if (!$value$plusargs("monorail_fault_latency=%d", fault_latency)) fault_latency = 32'd0;
wire [31:0] i_done_by_latency = now_q + i_lat - ((i_unit == 2'd2) ? fault_latency : 32'd0);
`else
wire [31:0] i_done_by_latency = now_q + i_lat;
`endif
wire [31:0] i_last_done = (i_unit == 2'd1) ? last_done[1] : (i_unit == 2'd2) ? last_done[2]
                        : last_done[3];
wire [31:0] i_done = (i_unit != 2'd0 && i_last_done > i_done_by_latency)
    ? i_last_done : i_done_by_latency;

// ---- register file -----------------------------------------------------------------------
// The target's registers (32 or 64) of @REGISTER_BITS@ bits, sign-extended to the 64-bit
// operand buses, with four write ports (scalar unit 0 and 1, vector unit 0 and 1) and two read
// ports (the issue's operands: no instruction reads more), as distributed RAM: one copy per write
// port and read port, each written by its port and read asynchronously (the copies of the two
// ports that write only exponents keep 12 or 24 bits), and a live-value table saying which port
// wrote each register last. A step starts with every register invalid: an invalid register reads
// as zero, or as the position (r1) or the token (r2).
reg [15:0] token_q;
@REGFILE@
// ---- the step limit ---------------------------------------------------------------------------
// A step still running after @STEP_LIMIT@ cycles (a program without its end, or a wait that is
// never met: a damaged or partly loaded program) is stopped: `done` with `aborted` set, and the
// host port answers the STEP with an error. Simulation may lower the limit
// (+monorail_step_limit=N) to test it.
`ifdef VERILATOR
reg [31:0] step_limit;
initial if (!$value$plusargs("monorail_step_limit=%d", step_limit) || step_limit == 32'd0)
    step_limit = 32'd@STEP_LIMIT@;
`else
wire [31:0] step_limit = 32'd@STEP_LIMIT@;
`endif

// ---- state, issue bookkeeping and the registered issue bus ----------------------------------
integer u;
always @(posedge clock) begin
    done <= 1'b0;
    issue_mxu <= 1'b0;
    issue_vxu <= 1'b0;
    issue_sxu <= 1'b0;
    trace_issue <= 1'b0;
    flush <= 1'b0;
    if (reset) begin
        state <= S_IDLE;
        aborted <= 1'b0;
        flush <= 1'b1;
    end else if (start) begin
        state <= S_PRIME;
        aborted <= 1'b0;
        pos_q <= start_pos;
        token_q <= start_token;
        now_q <= 32'd0;
        seq_free <= 32'd0;
        for (u = 0; u <= 3; u = u + 1) begin
            free_at[u] <= 32'd0;
            issued[u] <= 16'd0;
        end
        for (u = 1; u <= 3; u = u + 1) last_done[u] <= 32'd0;
    end else if (state == S_PRIME) begin
        if (d3_valid) state <= S_RUN;
    end else if (state == S_RUN && now_q == step_limit - 32'd1) begin
        // Stopped: the units stop streaming too (what is in their pipelines finishes).
        state <= S_IDLE;
        done <= 1'b1;
        aborted <= 1'b1;
        flush <= 1'b1;
        out_cycles <= step_limit;
        out_token <= 16'd0;
    end else if (state == S_RUN) begin
        now_q <= now_q + 1'b1;
        if (issue_now) begin
            trace_issue <= 1'b1;
            trace_index <= i_index;
            trace_complete <= (i_kind == K_END) ? now_q + 32'd1 : i_done;
            issue_instr <= i_instr;
            issue_len <= i_len;
            issue_ra <= read_a;
            issue_rb <= read_b;
            if (i_unit == 2'd0) begin
                if (i_kind == K_END) begin
                    state <= S_IDLE;
                    done <= 1'b1;
                    out_cycles <= now_q + 32'd1;
                    out_token <= read_a[15:0];
                end else begin
                    seq_free <= now_q + i_occ;
                end
            end else begin
                free_at[i_unit] <= now_q + i_occ;
                last_done[i_unit] <= i_done;
                issued[i_unit] <= issued[i_unit] + 1'b1;
                issue_mxu <= (i_unit == 2'd1);
                issue_vxu <= (i_unit == 2'd2);
                issue_sxu <= (i_unit == 2'd3);
            end
        end
    end
end
// The flags for the next cycle (now_q + 1).
reg [15:0] issued_next [0:3];
reg [31:0] wait_time_next;
// Loop indices: one per always block, as a variable assigned in two blocks has two drivers.
integer f, g;
always @(*) begin
    for (f = 0; f <= 3; f = f + 1)
        issued_next[f] = issued[f] + {15'd0, issue_now && i_unit == f[1:0]};
    // The awaited instruction's completion: from the ring, or from this cycle's issue when it is
    // the awaited one.
    wait_time_next = (issue_now && i_unit == d3_wait_unit && issued[d3_wait_unit][@RB@-1:0] == d3_wait_slot)
        ? i_done : d3_ring_time;
end
always @(posedge clock) begin
    if (reset || start) begin
        seq_ready <= 1'b1;
        unit_ready <= 4'b1111;
        unit_done <= 3'b111;
        now_next <= 32'd1;
    end else if (state == S_RUN) begin
        now_next <= now_next + 1'b1;
        seq_ready <= (issue_now && i_unit == 2'd0 && i_kind != K_END) ? (i_occ <= 32'd1)
                                                                    : (seq_free <= now_next);
        for (g = 1; g <= 3; g = g + 1) begin
            if (issue_now && i_unit == g[1:0]) begin
                unit_ready[g] <= (i_occ <= 32'd1);
                // i_done = max(last_done, now_q + i_lat) is at most now_q + 1 when both are.
                unit_done[g] <= (i_lat <= 32'd1) && (last_done[g] <= now_next);
            end else begin
                unit_ready[g] <= (free_at[g] <= now_next);
                unit_done[g] <= (last_done[g] <= now_next);
            end
        end
    end
    if (reset || start) begin
        i_wait_unit <= 2'd0;
    end else if (running && advance) begin
        i_wait_unit <= d3_wait_unit;
        i_wait_issued <= {2'b0, d3_wait_count} <= issued_next[d3_wait_unit];
        i_wait_old <= {2'b0, d3_wait_count} + 16'd@RING@ <= issued_next[d3_wait_unit];
        i_wait_time <= wait_time_next;
        i_wait_met <= (wait_time_next <= (state == S_RUN ? now_next : now_q));
    end else if (state == S_RUN) begin
        i_wait_met <= (i_wait_time <= now_next);
    end
end
always @(posedge clock) begin
    if (state == S_RUN && issue_now) begin
        if (i_unit == 2'd1) ring_mxu[issued[1][@RB@-1:0]] <= i_done;
        if (i_unit == 2'd2) ring_vxu[issued[2][@RB@-1:0]] <= i_done;
        if (i_unit == 2'd3) ring_sxu[issued[3][@RB@-1:0]] <= i_done;
    end
end
always @(*) begin
    busy = running;
    pos = pos_q;
    now = now_q;
end
