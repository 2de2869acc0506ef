// The vector unit: @V@ lanes, one pipeline for every instruction.
//
// The issued instruction arrives registered (cycle k, the cycle after issue) and is decoded into
// the front end's registers. The front end (FE) then produces one *slot* per cycle for
// `occupancy` cycles: a slot reads one word of each streamed operand (port A: the first vector
// operand read, port B: the second) and carries its lane mask, destination and flags down the
// pipeline:
//
//   decode (k) -> FE (k+1+i) -> RD (memory data) -> OP (operands) -> E1 -> E2 -> E3 -> E4
//   -> E5 (write)
//
// so a slot read in cycle k+1+i is written at the end of cycle k+i+8 and visible at k+i+9: the
// contract's VXU_PIPELINE_CYCLES counted from issue. OP multiplies, E1 shifts, E2 rounds and
// addresses the lane's table, E3 saturates and multiplies again (mul's product: its `a` shifted
// and rounded first), E4 adds, E5 writes. Register
// results leave E5 into the lane accumulators and through the reduction tree (log2 V levels) into
// the register file.
// Normalisations make two passes: the first feeds the fast max tree from OP, whose result
// (the shift) is ready when the second pass's first slot reaches OP. A norm given its input's
// magnitude in a register makes the second pass alone; producers with a magnitude register
// send |result| down the reduction tree, ORed.

@OPCODES@
@PACK_INPUTS@
localparam [3:0] F_STREAM = 4'd0, F_NORM = 4'd1, F_SINCOS = 4'd2, F_KVSTORE = 4'd3,
                 F_KVEXP = 4'd4, F_GETV = 4'd5, F_SETV = 4'd6;
localparam [1:0] M_VECTOR = 2'd0, M_ACC = 2'd1, M_WIDE = 2'd2, M_INPUT = 2'd3;
localparam [1:0] R_SUM = 2'd0, R_MAX = 2'd1, R_ARGMAX = 2'd2, R_MAG = 2'd3;

// The memories of the vector space (element addresses).
localparam [15:0] ACC_BASE = 16'd@ACC_BASE@, WIDE_BASE = 16'd@WIDE_BASE@,
                  INPUT_BASE = 16'd@INPUT_BASE@;
localparam [15:0] ACC_WORD = 16'd@ACC_WORD@, WIDE_WORD = 16'd@WIDE_WORD@,
                  INPUT_WORD = 16'd@INPUT_WORD@;
function [1:0] memory_of(input [15:0] address);
    begin
        if (address < ACC_BASE) memory_of = M_VECTOR;
        else if (address < WIDE_BASE) memory_of = M_ACC;
        else if (address < INPUT_BASE) memory_of = M_WIDE;
        else memory_of = M_INPUT;
    end
endfunction
// The word `word` (a global word of the vector space) within memory `m`.
function [15:0] local_word_of(input [1:0] m, input [15:0] word);
    begin
        case (m)
            M_VECTOR: local_word_of = word;
            M_ACC: local_word_of = word - ACC_WORD;
            M_WIDE: local_word_of = word - WIDE_WORD;
            default: local_word_of = word - INPUT_WORD;
        endcase
    end
endfunction

// The bit length (verilog::bit_length).
@BIT_LENGTH32@

// The tables (sigmoid by |q|, then exp2) are a block RAM for each pair of lanes, a read port for
// each lane, addressed at E2 by silu and expneg alike.
localparam [9:0] EXP2_OFFSET = 10'd@EXP2_OFFSET@;

// ---- decode of the issued instruction ---------------------------------------------------------
reg [3:0] d_kind;
reg [15:0] d_a, d_b, d_dst;
reg d_has_a, d_has_dst;
reg [4:0] d_bits;
reg [14:0] d_imm;
reg [5:0] d_rd0, d_rd1;
reg [19:0] d_mm;
reg d_reduce;
reg [1:0] d_rmode;
// A norm given its input's magnitude in a register (rb): the shifting pass alone.
reg d_one_pass;
wire [7:0] d_op = issue_instr[7:0];
always @(*) begin
    d_kind = F_STREAM;
    d_a = 16'd0;
    d_b = 16'd0;
    d_dst = 16'd0;
    d_has_a = 1'b0;
    d_has_dst = 1'b0;
    d_bits = 5'd0;
    d_imm = 15'd0;
    d_rd0 = 6'd0;
    d_rd1 = 6'd0;
    d_mm = 20'd0;
    d_reduce = 1'b0;
    d_rmode = R_SUM;
    d_one_pass = 1'b0;
    case (d_op)
@DECODE@
        default: ;
    endcase
end

// The instruction's other fields (waits, the sequencer's) are not the vector unit's.
wire unused_instr = &{1'b0, issue_instr};

// ---- front end ----------------------------------------------------------------------------
// The issue cycle (k) only decodes: everything the slots need is registered into fe_* at its end,
// and the front end makes slot i at cycle k+1+i from those registers alone, so no decode or
// address arithmetic of the issue bus reaches the memories' addresses in the same cycle.
reg fe_on;
reg [7:0] fe_op;
reg [3:0] fe_kind;
reg [31:0] fe_cnt, fe_occ;
// fe_cnt + 1: the next slot's count, from which its read addresses are registered a cycle ahead.
reg [31:0] fe_cnt_ahead;
reg [1:0] fe_a_mem, fe_b_mem, fe_dst_mem;
// Words within their memories of the first words of the operands and the destination.
reg [15:0] fe_a_local, fe_b_local, fe_wide_local, fe_dst_local;
// kvstore's elements: the first within its memory.
reg [15:0] fe_kv_local;
reg [@LOG_V@-1:0] fe_lane0;
reg [17:0] fe_c, fe_c_pass, fe_last_chunk;
reg [31:0] fe_pass2_start;
reg [@V@-1:0] fe_first_mask, fe_last_mask;
reg fe_reduce;
reg [1:0] fe_rmode;
reg [4:0] fe_bits;
reg [5:0] fe_rd0, fe_rd1;
// ra's low 32 bits (every use of it but onehot's range check, which is a flag) and rb.
reg [31:0] fe_ra;
reg fe_ra_fits20;
reg [63:0] fe_rb;
reg [14:0] fe_imm;
reg fe_a_big;
reg fe_has_dst;
reg fe_one_pass;

// Decode of the issue bus (cycle k).
wire [@LOG_V@-1:0] lane_ref = d_has_a ? d_a[@LOG_V@-1:0] : d_dst[@LOG_V@-1:0];
// getv and setv address one element, offset by a register.
wire [15:0] d_element = (d_kind == F_GETV ? d_a : d_dst) + issue_ra[15:0];
wire [@LOG_V@-1:0] d_lane0 = (d_kind == F_GETV || d_kind == F_SETV) ? d_element[@LOG_V@-1:0]
                                                                    : lane_ref;
wire [18:0] d_span = {1'b0, issue_len} + {{(19-@LOG_V@){1'b0}}, d_lane0} + 19'd@V_MINUS_1@;
wire [18:0] d_span_words = d_span >> @LOG_V@;
wire [17:0] d_c = (issue_len == 18'd0) ? 18'd0 : d_span_words[17:0];
wire unused_span = d_span_words[18];
// Words a pass streams: a reduction or normalisation over nothing still makes one empty slot.
wire [17:0] d_c_pass = (d_c == 18'd0) ? 18'd1 : d_c;
reg [31:0] d_occ;
always @(*) begin
    case (d_kind)
        F_NORM: d_occ = d_one_pass ? {14'd0, d_c_pass}
                      : ((d_c == 18'd0) ? 32'd2 : {13'd0, d_c, 1'b0}) + 32'd@NORM_GAP@;
        F_SINCOS: d_occ = {14'd0, d_c} << @LOG_HALF_V@;
        F_KVSTORE: d_occ = (issue_len == 18'd0) ? 32'd2 : {13'd0, issue_len, 1'b0};
        F_KVEXP: d_occ = 32'd2;
        F_GETV, F_SETV: d_occ = 32'd1;
        default: d_occ = {14'd0, d_c};
    endcase
    if (d_occ == 32'd0) d_occ = 32'd1;
end
wire [15:0] d_a_at = (d_kind == F_GETV) ? d_element : d_a;
wire [15:0] d_dst_at = (d_kind == F_SETV) ? d_element : d_dst;
wire [1:0] d_a_mem = memory_of(d_a_at);
wire [1:0] d_b_mem = memory_of(d_b);
wire [1:0] d_dst_mem = memory_of(d_dst_at);
wire [15:0] d_a_local = local_word_of(d_a_mem, d_a_at >> @LOG_V@);
wire [15:0] d_b_local = local_word_of(d_b_mem, d_b >> @LOG_V@);
wire [15:0] d_wide_local = (d_b_mem == M_WIDE) ? d_b_local : d_a_local;
// kvstore's first element within its memory (the memories start at whole words, so an element's
// lane is the same in both).
wire [15:0] d_kv_local = {d_a_local[15-@LOG_V@:0], d_a[@LOG_V@-1:0]};
// The lane masks of a stream's first word (lanes from lane0 on) and last word (lanes up to the
// last element's); a slot takes the first's, the last's, both or neither.
wire [@LOG_V@-1:0] d_end_lane = d_lane0 + issue_len[@LOG_V@-1:0] - 1'b1;
reg [@V@-1:0] d_first_mask, d_last_mask;
integer dl;
always @(*) begin
    for (dl = 0; dl < @V@; dl = dl + 1) begin
        d_first_mask[dl] = (dl[@LOG_V@-1:0] >= d_lane0);
        d_last_mask[dl] = (issue_len != 18'd0) && (dl[@LOG_V@-1:0] <= d_end_lane);
    end
end

always @(posedge clock) begin
    if (issue_vxu) begin
        fe_on <= 1'b1;
        fe_op <= d_op;
        fe_kind <= d_kind;
        fe_cnt <= 32'd0;
        fe_cnt_ahead <= 32'd1;
        fe_occ <= d_occ;
        fe_a_mem <= d_a_mem;
        fe_b_mem <= d_b_mem;
        fe_dst_mem <= d_dst_mem;
        fe_a_local <= d_a_local;
        fe_b_local <= d_b_local;
        fe_wide_local <= d_wide_local;
        fe_dst_local <= local_word_of(d_dst_mem, d_dst_at >> @LOG_V@);
        fe_kv_local <= d_kv_local;
        fe_lane0 <= d_lane0;
        fe_c <= d_c;
        fe_c_pass <= d_c_pass;
        fe_last_chunk <= d_c_pass - 18'd1;
        fe_pass2_start <= {14'd0, d_c_pass} + 32'd@NORM_GAP@;
        fe_first_mask <= d_first_mask;
        fe_last_mask <= d_last_mask;
        fe_reduce <= d_reduce;
        fe_rmode <= d_rmode;
        fe_bits <= d_bits;
        fe_rd0 <= d_rd0;
        fe_rd1 <= d_rd1;
        fe_ra <= issue_ra[31:0];
        fe_ra_fits20 <= (issue_ra[63:19] == {45{issue_ra[19]}});
        fe_rb <= issue_rb;
        fe_imm <= d_imm;
        // addalign: the operand with the larger exponent is aligned by a fixed 15 bits.
        // (Exponents: the ISA bounds them by 2^20, so their low 24 bits compare as the whole.)
        fe_a_big <= $signed(issue_ra[23:0]) >= $signed(issue_rb[23:0]);
        fe_has_dst <= d_has_dst;
        fe_one_pass <= d_one_pass;
    end else if (fe_on) begin
        fe_cnt <= fe_cnt + 32'd1;
        fe_cnt_ahead <= fe_cnt_ahead + 32'd1;
        if (fe_cnt + 32'd1 >= fe_occ) fe_on <= 1'b0;
    end
    if (flush) fe_on <= 1'b0;
end
wire active = fe_on;
wire [7:0] op = fe_op;
wire [3:0] kind = fe_kind;
wire [31:0] cnt = fe_cnt;
wire [17:0] c = fe_c;
wire [17:0] c_pass = fe_c_pass;
wire [@LOG_V@-1:0] lane0 = fe_lane0;
wire [1:0] a_mem = fe_a_mem;
wire [1:0] b_mem = fe_b_mem;
wire [1:0] dst_mem = fe_dst_mem;
wire [31:0] ra = fe_ra;
wire [63:0] rb = fe_rb;
wire [14:0] imm = fe_imm;
wire reduce = fe_reduce;
wire [1:0] rmode = fe_rmode;
wire [4:0] bits = fe_bits;
wire [5:0] rd0 = fe_rd0;
wire [5:0] rd1 = fe_rd1;
wire has_dst = fe_has_dst;

// The chunk (the word of the stream) that the slot of count n reads and writes, decided by the
// front end's registers; worked out for the next slot, a cycle ahead.
function [17:0] chunk_of(input [31:0] n);
    case (kind)
        // Two passes: the first from word 0, the gap's slots at word 0, the second from word 0.
        F_NORM: chunk_of = (fe_one_pass || n < {14'd0, c_pass}) ? n[17:0]
                         : (n >= fe_pass2_start) ? n[17:0] - fe_pass2_start[17:0] : 18'd0;
        F_SINCOS: chunk_of = n[17+@LOG_HALF_V@:@LOG_HALF_V@];
        // Even counts read element n/2; the read-modify-write follows.
        F_KVSTORE: chunk_of = n[18:1];
        F_KVEXP, F_GETV, F_SETV: chunk_of = 18'd0;
        default: chunk_of = n[17:0];
    endcase
endfunction

// The slot of this cycle. Its chunk is the one worked out a cycle ahead for its read addresses
// (below), registered: chunk 0 after an issue, then that of each next count (while the front
// end is idle it runs a count ahead, but no slot is valid then).
reg s_valid, s_pass2, s_first, s_last, s_writes;
reg [17:0] s_chunk;
reg [@LOG_HALF_V_BITS@-1:0] s_pair;
always @(*) begin
    s_valid = 1'b0;
    s_pass2 = 1'b0;
    s_pair = {@LOG_HALF_V_BITS@{1'b0}};
    s_writes = 1'b0;
    case (kind)
        F_NORM: begin
            // Both passes stream at least one word (empty when n is 0); with the magnitude
            // given, the shifting pass alone.
            if (fe_one_pass) begin
                s_valid = (cnt < {14'd0, c_pass});
                s_pass2 = 1'b1;
                s_writes = s_valid;
            end else if (cnt < {14'd0, c_pass}) begin
                s_valid = 1'b1;
            end else if (cnt >= fe_pass2_start) begin
                s_valid = 1'b1;
                s_pass2 = 1'b1;
                s_writes = 1'b1;
            end
        end
        F_SINCOS: begin
            s_pair = @PAIR_OF_CNT@;
            s_valid = (s_chunk < c);
            s_writes = s_valid;
        end
        F_KVSTORE, F_KVEXP: ;
        F_GETV: begin
            s_valid = (cnt == 32'd0);
        end
        F_SETV: begin
            s_valid = (cnt == 32'd0);
            s_writes = s_valid;
        end
        default: begin
            // Streamed operations; one empty slot for a register result over nothing (a
            // reduction's, addalign's exponent), which leaves with it.
            s_valid = (cnt < {14'd0, c_pass}) && (c != 18'd0 || reduce || op == OP_ADDALIGN);
            s_writes = s_valid && has_dst;
        end
    endcase
    s_first = (s_chunk == 18'd0);
    s_last = (s_chunk == fe_last_chunk);
end
// Lane mask of the slot: lanes whose element index lies in 0 .. len.
reg [@V@-1:0] s_mask;
wire signed [19:0] s_base = $signed({2'b0, s_chunk} << @LOG_V@)
                          - $signed({{(20-@LOG_V@){1'b0}}, lane0});
always @(*) begin
    s_mask = s_valid ? (s_first ? fe_first_mask : {@V@{1'b1}})
                       & (s_last ? fe_last_mask : {@V@{1'b1}})
                     : {@V@{1'b0}};
    if (kind == F_GETV || kind == F_SETV) s_mask = s_valid ? ({{(@V@-1){1'b0}}, 1'b1} << lane0) : {@V@{1'b0}};
    if (kind == F_SINCOS) s_mask = s_mask & ({{(@V@-2){1'b0}}, 2'b11} << {s_pair, 1'b0});
end

// Reads of this slot's words (data the next cycle); each memory takes the word within itself.
// The addresses are registers, worked out in the cycle before the slot's (the first slot's, at
// chunk 0, at issue; each next slot's from the next count): on the 85F the sums reached the
// memories across the die in the slot's own cycle.
reg [15:0] a_read_local, vm_a_read_local, b_read_local, wide_read_local;
// kvstore's element's lane in its word.
reg [@LOG_V@-1:0] kv_read_lane;
wire [17:0] chunk_ahead = chunk_of(fe_cnt_ahead);
wire [15:0] kv_element_ahead = fe_kv_local + chunk_ahead[15:0];
always @(posedge clock) begin
    if (issue_vxu) begin
        s_chunk <= 18'd0;
        a_read_local <= d_a_local;
        kv_read_lane <= d_kv_local[@LOG_V@-1:0];
        vm_a_read_local <= (d_kind == F_KVSTORE) ? d_kv_local >> @LOG_V@ : d_a_local;
        b_read_local <= d_b_local;
        wide_read_local <= d_wide_local;
    end else begin
        s_chunk <= chunk_ahead;
        a_read_local <= fe_a_local + chunk_ahead[15:0];
        kv_read_lane <= kv_element_ahead[@LOG_V@-1:0];
        vm_a_read_local <= (kind == F_KVSTORE) ? kv_element_ahead >> @LOG_V@
                                               : fe_a_local + chunk_ahead[15:0];
        b_read_local <= fe_b_local + chunk_ahead[15:0];
        wide_read_local <= fe_wide_local + chunk_ahead[15:0];
    end
end
always @(*) begin
    vm_raddr_a = vm_a_read_local;
    acc_raddr_a = a_read_local;
    vm_raddr_b = b_read_local;
    acc_raddr_b = b_read_local;
    wide_raddr = wide_read_local;
end

// ---- the slot's control down the pipeline --------------------------------------------------------
// Stage index: 1 RD, 2 OP, 3 E1, 4 E2, 5 E3, 6 E4, 7 E5.
reg p_valid [1:7];
reg [7:0] p_op [1:7];
reg [@V@-1:0] p_mask [1:2];
reg p_pass2 [1:2];
reg p_first [1:2];
reg p_last [1:2];
reg p_writes [1:7];
reg [15:0] p_dst_word [1:1];
reg [1:0] p_dst_mem [1:1];
// The element index of the slot's lane 0: onehot's at OP, sincos's parity at stage 1 (argmax's
// index is counted at E5).
reg signed [19:0] p_base [1:2];
reg [@LOG_HALF_V_BITS@-1:0] p_pair [1:1];
reg p_reduce [1:1];
reg [1:0] p_rmode [1:1];
reg [5:0] p_rd0 [1:1];
reg [1:0] p_a_mem [1:1];
reg [1:0] p_b_mem [1:1];
reg [@LOG_V@-1:0] p_lane0 [1:1];
integer ps;
always @(posedge clock) begin
    p_valid[1] <= active && s_valid;
    p_op[1] <= op;
    p_mask[1] <= s_mask;
    p_pass2[1] <= s_pass2;
    p_first[1] <= s_first;
    p_last[1] <= s_last;
    p_writes[1] <= active && s_writes;
    p_dst_word[1] <= fe_dst_local + s_chunk[15:0];
    p_dst_mem[1] <= dst_mem;
    p_base[1] <= s_base;
    p_pair[1] <= s_pair;
    p_reduce[1] <= reduce;
    p_rmode[1] <= rmode;
    p_rd0[1] <= rd0;
    p_a_mem[1] <= a_mem;
    p_b_mem[1] <= b_mem;
    p_lane0[1] <= lane0;
    p_base[2] <= p_base[1];
    // (OP's normalisation passes read these at stage 2; E5 the late copies below.)
    p_mask[2] <= p_mask[1];
    p_pass2[2] <= p_pass2[1];
    p_first[2] <= p_first[1];
    p_last[2] <= p_last[1];
    for (ps = 2; ps <= 7; ps = ps + 1) begin
        p_valid[ps] <= p_valid[ps-1];
        p_op[ps] <= p_op[ps-1];
        p_writes[ps] <= p_writes[ps-1];
    end
end
// The controls only E5 reads (the write's lanes, word and memory; the reduction's), six cycles
// after RD.
@SLOT_LATE@

// Exponents (register values the ISA bounds by 2^20) are computed in 24 bits.
// A norm's shift, set between its two passes or (given its magnitude) while its first slot is
// at RD, and its exponent, which follows a cycle later.
reg signed [7:0] norm_shift;
reg signed [23:0] norm_exp;
// normg's exponent, in a register of its own: a one-pass normg sets it while its first slot is
// at RD, and a one-pass norm straight before it still needs its own exponent (norm_exp) a cycle
// later.
reg signed [23:0] normg_exp;

// ---- lanes ----------------------------------------------------------------------------------
// Per-instruction scalars travel with the slots as far as they are used.
reg [31:0] p_ra [1:2];
reg p_ra_fits20 [1:2];
reg [63:0] p_rb [1:2];
reg [14:0] p_imm [1:2];
reg [4:0] p_bits [1:4];
reg [5:0] p_rd1 [1:2];
reg p_a_big [1:2];
always @(posedge clock) begin
    p_ra[1] <= ra;
    p_ra_fits20[1] <= fe_ra_fits20;
    p_ra_fits20[2] <= p_ra_fits20[1];
    p_rb[1] <= rb;
    p_imm[1] <= imm;
    p_ra[2] <= p_ra[1];
    p_rb[2] <= p_rb[1];
    p_imm[2] <= p_imm[1];
    p_bits[1] <= bits;
    p_bits[2] <= p_bits[1];
    p_bits[3] <= p_bits[2];
    p_bits[4] <= p_bits[3];
    p_rd1[1] <= rd1;
    p_rd1[2] <= p_rd1[1];
    p_a_big[1] <= fe_a_big;
    p_a_big[2] <= p_a_big[1];
end

wire [7:0] op_op = p_op[2];
// The first product's operands, decoded a stage early: at OP, from registers through a 2:1
// (x) and a 4:1 (y) multiplexer into the multipliers (a `case` on the opcode there was six
// LUTs deep on the ECP5-85F). y: 0 b, 1 a (sumsq), 2 the scalar (muls's register, expneg's
// immediate), 3 the pair's cosine (rope).
localparam [1:0] M1_Y_B = 2'd0, M1_Y_A = 2'd1, M1_Y_SCALAR = 2'd2, M1_Y_COS = 2'd3;
reg op_m1_x_diff;
reg [1:0] op_m1_y;
reg signed [17:0] op_m1_scalar;
// E3's and E4's choices, decoded as the slot enters the stage before them.
reg e3_silu, e3_mul, e3_addalign, e4_rope, e4_silu, e4_mul, e4_expneg, e4_adds_op;
always @(posedge clock) begin
    op_m1_x_diff <= (p_op[1] == OP_EXPNEG);
    op_m1_y <= (p_op[1] == OP_SUMSQ) ? M1_Y_A
             : (p_op[1] == OP_MULS || p_op[1] == OP_EXPNEG) ? M1_Y_SCALAR
             : (p_op[1] == OP_ROPE) ? M1_Y_COS : M1_Y_B;
    op_m1_scalar <= (p_op[1] == OP_MULS) ? p_ra[1][17:0] : {3'd0, p_imm[1]};
    e3_silu <= (p_op[4] == OP_SILU);
    e3_mul <= (p_op[4] == OP_MUL);
    e3_addalign <= (p_op[4] == OP_ADDALIGN);
    e4_rope <= (p_op[5] == OP_ROPE);
    e4_silu <= (p_op[5] == OP_SILU);
    e4_mul <= (p_op[5] == OP_MUL);
    e4_expneg <= (p_op[5] == OP_EXPNEG);
    e4_adds_op <= (p_op[5] == OP_ADDALIGN) || (p_op[5] == OP_ADDSV);
end
// A cache store's element is at RD.
reg rd_kvstore;
always @(posedge clock) rd_kvstore <= active && (kind == F_KVSTORE);
// Shifts are clamped to the datapath's 48 bits: a right shift past 48 leaves the sign, which
// rounds to 0 as any longer one; left shifts past 47 only occur in programs the ISA refuses.
localparam signed [7:0] SHIFT_RIGHT_MAX = 8'sd48, SHIFT_LEFT_MAX = 8'sd47;
// s clamped to low ..= high (bounds of 8 bits): compared in 8 bits where s fits them, as a
// 25-bit comparison takes an adder's carry chain.
function signed [7:0] clamp_shift(input signed [24:0] s, input signed [7:0] low,
                                  input signed [7:0] high);
    begin
        if (s[24:7] != {18{s[7]}}) clamp_shift = s[24] ? low : high;
        else if ($signed(s[7:0]) > high) clamp_shift = high;
        else if ($signed(s[7:0]) < low) clamp_shift = low;
        else clamp_shift = s[7:0];
    end
endfunction
// Shifts that are the same for the whole instruction (computed at OP from its scalars).
wire signed [23:0] ea = p_ra[2][23:0], eb = p_rb[2][23:0];
wire unused_exponent_bits = &{1'b0, p_rb[2][63:48]};
// addalign: E = max(ea, eb) - 15; the other operand shifts by E - its exponent.
wire signed [24:0] align_shift = p_a_big[2] ? ({ea[23], ea} - 25'sd15 - {eb[23], eb})
                                            : ({eb[23], eb} - 25'sd15 - {ea[23], ea});
wire signed [7:0] align_sh = clamp_shift(align_shift, -SHIFT_LEFT_MAX, SHIFT_RIGHT_MAX);
// expneg: a left shift of 12 or more takes any non-zero product past the table's limit.
wire signed [7:0] expneg_sh = clamp_shift({p_rb[2][23], p_rb[2][23:0]}, -8'sd12,
                                         SHIFT_RIGHT_MAX);
// silu: shift_round(m, -(e + 6)) of a 32-bit m, clamped to the table's +-511: a left shift of
// 10 or more takes any non-zero m past it, a right shift of 33 leaves 0.
wire signed [24:0] silu_shift = -({ea[23], ea} + 25'sd@SIGMOID_FRACTION@);
wire signed [7:0] silu_sh = clamp_shift(silu_shift, -8'sd10, 8'sd33);
// mul: `a`'s shift, a signed immediate.
wire signed [7:0] mul_sh = {{@MUL_SH_PAD@{p_imm[2][@MUL_SH_MSB@]}}, p_imm[2][@MUL_SH_MSB@:0]};
wire unused_mul_sh = &{1'b0, p_imm[2][14:@MUL_SH_BITS@]};
// onehot: the register compared with each lane's element index (20 bits).
wire onehot_in_range = p_ra_fits20[2];
wire [19:0] onehot_index = p_ra[2][19:0];

reg [@V@*32-1:0] op_a_w, op_b_w;
wire [@V@*10-1:0] table_address_w;
wire [@V@*15-1:0] entry_w;
// By swapping halves, then quarters, down to single bits (wiring in hardware; a few word
// operations in Verilator, where a loop over the bits costs one for each).
function [47:0] reverse48(input [47:0] x);
    reg [63:0] v;
    begin
        v = {x, 16'd0};
        v = {v[31:0], v[63:32]};
        v = ((v >> 16) & 64'h0000ffff0000ffff) | ((v << 16) & 64'hffff0000ffff0000);
        v = ((v >> 8) & 64'h00ff00ff00ff00ff) | ((v << 8) & 64'hff00ff00ff00ff00);
        v = ((v >> 4) & 64'h0f0f0f0f0f0f0f0f) | ((v << 4) & 64'hf0f0f0f0f0f0f0f0);
        v = ((v >> 2) & 64'h3333333333333333) | ((v << 2) & 64'hcccccccccccccccc);
        v = ((v >> 1) & 64'h5555555555555555) | ((v << 1) & 64'haaaaaaaaaaaaaaaa);
        reverse48 = v[47:0];
    end
endfunction
// The RD stage's difference: a - max (expneg) or |a| (normalisations).
reg [@V@*32-1:0] op_diff_w;
// E1's decode, registered at OP, and E2's, registered at E1 (the same for every lane): whether
// the shifter takes the first product (expneg's, and the products that pass it unchanged to the
// result: muls, sumsq, rope's x c), and whether its result is negated (expneg's).
reg e1_product, e1_negating;
reg e2_silu;
// Saturation of the normalisations (at E3): whether to, the largest mantissa, its negation and
// the bit above it, registered at E2. A width field is five bits, so each fits 32 (the largest,
// 2^31 - 1, and the negation, 1 - 2^31, even where `bits` - 1 wraps): widened at E3.
reg e3_saturating;
reg [31:0] e3_sat_max, e3_sat_top;
reg signed [31:0] e3_sat_min;
always @(posedge clock) begin
    e1_product <= (p_op[2] == OP_EXPNEG) || (p_op[2] == OP_MULS)
               || (p_op[2] == OP_SUMSQ) || (p_op[2] == OP_ROPE);
    e1_negating <= (p_op[2] == OP_EXPNEG);
    e2_silu <= (p_op[3] == OP_SILU);
    e3_saturating <= (p_op[4] == OP_NORM) || (p_op[4] == OP_NORMG);
    e3_sat_max <= (32'd1 << (p_bits[4] - 5'd1)) - 32'd1;
    e3_sat_min <= 32'sd1 - $signed(32'd1 << (p_bits[4] - 5'd1));
    e3_sat_top <= 32'd1 << (p_bits[4] - 5'd1);
end
genvar l;
generate
for (l = 0; l < @V@; l = l + 1) begin : lane
    // RD -> OP: the operands, sign-extended to 32 bits.
    wire [17:0] vm_a = vm_a_w[l*18 +: 18];
    wire [17:0] vm_b = vm_b_w[l*18 +: 18];
    reg signed [31:0] a_raw, b_raw;
    always @(*) begin
        case (p_a_mem[1])
            M_VECTOR: a_raw = {{14{vm_a[17]}}, vm_a};
            M_ACC: a_raw = acc_a_w[l*32 +: 32];
            default: a_raw = wide_w[l*32 +: 32];
        endcase
        case (p_b_mem[1])
            M_VECTOR: b_raw = {{14{vm_b[17]}}, vm_b};
            M_ACC: b_raw = acc_b_w[l*32 +: 32];
            default: b_raw = wide_w[l*32 +: 32];
        endcase
    end
    // Values past 32 bits would have been refused by the ISA's checks: 32 bits suffice.
    wire expneg_rd = (p_op[1] == OP_EXPNEG);
    wire [31:0] diff_x = expneg_rd ? a_raw : (a_raw[31] ? 32'd0 : a_raw);
    wire [31:0] diff_y = expneg_rd ? p_ra[1][31:0] : (a_raw[31] ? a_raw : 32'd0);
    // Loaded with a valid slot, or with a cache store's element (its slots write no vector
    // memory, so they are not valid; the store takes the element from op_a_w).
    always @(posedge clock) if (p_valid[1] || rd_kvstore) begin
        op_a_w[l*32 +: 32] <= a_raw;
        op_b_w[l*32 +: 32] <= b_raw;
        op_diff_w[l*32 +: 32] <= diff_x - diff_y;
    end

    // OP: the operands of the first product and of the shifter.
    wire signed [31:0] a = op_a_w[l*32 +: 32];
    wire signed [31:0] b = op_b_w[l*32 +: 32];
    // Multiplier inputs are 18-bit values (the ISA refuses others).
    wire signed [17:0] d = op_diff_w[l*32 +: 18];
    wire signed [17:0] partner_a = op_a_w[(l ^ 1)*32 +: 18];
    wire signed [17:0] pair_cos = op_b_w[(l & ~1)*32 +: 18];
    wire signed [17:0] pair_sin = op_b_w[(l | 1)*32 +: 18];
    wire signed [19:0] element = p_base[2] + l;
    // The lane's own shift (normg, shrv): the difference of two exponents, normg's own (b) from
    // its exponent.
    wire signed [24:0] lane_shift = (op_op == OP_NORMG) ? ({normg_exp[23], normg_exp} - {b[23], b[23:0]})
                                                        : ({ea[23], ea} - {b[23], b[23:0]});
    reg signed [17:0] m1_x, m1_y;
    // The shifter's input: also the value of the operations that only move one (copies, fills,
    // the reductions' inputs), which pass the shifter, its rounding and saturation unchanged.
    reg signed [47:0] sr_x;
    reg signed [7:0] sr_sh;
    // The first operand of E4's adder (its second is the shifter's result or a product), before
    // its shift (E3 makes it): or rope's partner element and sine, for E3's second product.
    reg signed [35:0] add_operand;
    always @(*) begin
        m1_x = op_m1_x_diff ? d : a[17:0];
        case (op_m1_y)
            M1_Y_A: m1_y = a[17:0];
            M1_Y_SCALAR: m1_y = op_m1_scalar;
            M1_Y_COS: m1_y = pair_cos;
            default: m1_y = b[17:0];
        endcase
        sr_x = {{16{a[31]}}, a};
        sr_sh = 8'sd0;
        add_operand = 36'sd0;
        case (op_op)
            OP_EXPNEG: sr_sh = expneg_sh;
            OP_ROPE: add_operand = {partner_a, pair_sin};
            OP_MUL: begin
                sr_sh = mul_sh;
                add_operand = {18'sd0, b[17:0]};
            end
            OP_SILU: begin
                sr_sh = silu_sh;
                add_operand = {{4{a[31]}}, a};
            end
            OP_NORM: sr_sh = norm_shift;
            OP_NORMG, OP_SHRV: sr_sh = clamp_shift(lane_shift, -SHIFT_LEFT_MAX, SHIFT_RIGHT_MAX);
            OP_ADDALIGN: begin
                sr_x = p_a_big[2] ? {{16{b[31]}}, b} : {{16{a[31]}}, a};
                sr_sh = align_sh;
                add_operand = p_a_big[2] ? {{4{a[31]}}, a} : {{4{b[31]}}, b};
            end
            OP_ADDSV: begin
                sr_x = {{16{p_ra[2][31]}}, p_ra[2][31:0]};
                add_operand = {{4{a[31]}}, a};
            end
            OP_FILL: sr_x = {{16{p_ra[2][31]}}, p_ra[2][31:0]};
            OP_SETV: sr_x = p_rb[2][47:0];
            OP_ONEHOT: sr_x = (onehot_in_range && element == onehot_index) ? 48'sd1 : 48'sd0;
            default: ;
        endcase
    end
    reg signed [35:0] e1_m1;
    reg signed [47:0] e1_sr_x;
    reg signed [7:0] e1_sh;
    reg signed [35:0] e1_x;
    // Each stage's registers load with a valid slot only (their enables; a slot that is not
    // valid is written nowhere, and the simulator skips the work).
@E1_PRODUCT@    always @(posedge clock) if (p_valid[2]) begin
        e1_sr_x <= sr_x;
        e1_sh <= sr_sh;
        e1_x <= add_operand;
    end

    // E1: the shift of shift_round: x >> s for s > 0, with the last bit shifted out (x's bit
    // s - 1, the rounding's), x << -s otherwise, as one right shifter (a left shift is a right
    // shift of the bit-reversed value, zeros in).
    wire signed [47:0] shift_in = e1_product ? {{12{e1_m1[35]}}, e1_m1} : e1_sr_x;
    wire shift_right = (e1_sh > 8'sd0);
    wire [7:0] shift_amount = shift_right ? e1_sh : -e1_sh;
    wire [49:0] shifter_in = shift_right ? {shift_in[47], shift_in, 1'b0}
                                         : {1'b0, reverse48(shift_in), 1'b0};
    wire [49:0] shifter_out = $signed(shifter_in) >>> shift_amount[5:0];
    wire [47:0] shifted = shift_right ? shifter_out[48:1] : reverse48(shifter_out[48:1]);
    wire unused_shifter = &{1'b0, shifter_out[49], shift_amount[7:6]};
    // The rounding's operands, t + the bit shifted out right and t left; expneg's negation of
    // it, -(t + bit) = ~t + !bit right and ~t + 1 left, is taken here, where it is one more
    // input of the shifter's last LUT: at E2 it was a broadcast flip-flop in front of the
    // rounding's adder and the table's address.
    reg signed [47:0] e2_t;
    reg e2_carry;
    reg signed [35:0] e2_x;
    always @(posedge clock) if (p_valid[3]) begin
        e2_t <= e1_negating ? ~shifted : shifted;
        e2_carry <= shift_right ? (shifter_out[0] ^ e1_negating) : e1_negating;
        e2_x <= e1_x;
    end

    // E2: the rounding, one adder, rounded = t + carry; then the table's address (saturation
    // waits for E3). The address does not wait for the adder's 48 bits: it takes nine-bit sums
    // of t's low bits, rounded's own (t + carry) and its negation's (-(t + carry) = ~t + !carry),
    // and whether t's bits from 9 up are all zeros or all ones. Rounded's are all zeros where t's
    // are and nothing carries into bit 9, or where t's are all ones and one does; rounded is then
    // in [0, 511]. It is in [-511, -1] where t's are all ones and its low bits are not 0 (nothing
    // carried: a carry into bit 9 leaves them 0).
    wire signed [47:0] rounded = e2_t + {47'd0, e2_carry};
    wire [9:0] low_sum = {1'b0, e2_t[8:0]} + {9'd0, e2_carry};
    wire [8:0] low_negated = ~e2_t[8:0] + {8'd0, !e2_carry};
    wire t_high_zeros = (e2_t[47:9] == 39'd0);
    wire t_high_ones = (e2_t[47:9] == {39{1'b1}});
    wire fits_positive = low_sum[9] ? t_high_ones : t_high_zeros;
    wire fits_negative = t_high_ones && (low_sum[8:0] != 9'd0);
    // silu: the sigmoid's input clamped to +-@SIGMOID_MAX@; expneg: 0 from 2^@EXP2_LIMIT_BITS@ on.
    wire [8:0] q_abs = fits_negative ? low_negated : fits_positive ? low_sum[8:0] : 9'd@SIGMOID_MAX@;
    wire exp2_zero = rounded[47] || (rounded[46:@EXP2_LIMIT_BITS@] != {(47-@EXP2_LIMIT_BITS@){1'b0}});
    wire [9:0] table_address = e2_silu ? {1'b0, q_abs} : (EXP2_OFFSET | {2'b0, low_sum[7:0]});
    reg signed [47:0] e3_rounded;
    reg e3_negative, e3_zero;
    reg [3:0] e3_exp2_shift;
    reg signed [35:0] e3_x;
    always @(posedge clock) if (p_valid[4]) begin
        e3_rounded <= rounded;
        e3_negative <= rounded[47];
        e3_zero <= exp2_zero;
        e3_exp2_shift <= rounded[11:8];
        e3_x <= e2_x;
    end

    // E3: the table's entry; exp2's shift; the second product (silu: m * entry, rope: y * sin,
    // mul: a's rounded value, which the ISA requires to fit 18 bits, times b);
    // the normalisations' saturation: |rounded| <= 2^(bits-1) by the choice of shift
    // (numerics::normalize), so it only meets the two values at the ends.
    assign table_address_w[l*10 +: 10] = table_address;
    wire sat_high = !e3_rounded[47] && ((e3_rounded[31:0] & e3_sat_top) != 32'd0);
    wire sat_low = e3_rounded[47] && ((e3_rounded[31:0] & e3_sat_max) == 32'd0);
    wire signed [47:0] e3_saturated = !e3_saturating ? e3_rounded
                                    : sat_high ? {16'd0, e3_sat_max}
                                    : sat_low ? {{16{e3_sat_min[31]}}, e3_sat_min} : e3_rounded;
    wire [14:0] entry = entry_w[l*15 +: 15];
    wire [15:0] exp2_t = (e3_exp2_shift == 4'd0) ? {1'b0, entry} : ({1'b0, entry} >> (e3_exp2_shift - 4'd1));
    wire [15:0] exp2_y = (e3_exp2_shift == 4'd0) ? exp2_t : ((exp2_t + 16'd1) >> 1);
    wire silu_e3 = e3_silu;
    wire signed [17:0] m2_x = silu_e3 ? e3_x[17:0] : e3_mul ? e3_rounded[17:0] : e3_x[35:18];
    wire signed [17:0] m2_y = silu_e3 ? {3'b0, entry} : e3_x[17:0];
    // The adder's first operand, shifted: silu's m << 14, addalign's big << 15, addsv's a.
    wire signed [47:0] e3_x_wide = {{12{e3_x[35]}}, e3_x};
    wire signed [47:0] e3_add_operand = silu_e3 ? e3_x_wide <<< @Q14_BITS@
                                      : e3_addalign ? e3_x_wide <<< 15 : e3_x_wide;
    reg signed [35:0] e4_m2;
    reg signed [47:0] e4_sr;
    reg signed [47:0] e4_x;
    reg [15:0] e4_exp2;
    reg e4_negative;
    // (exp2 has a register of its own: from the table's block RAM through exp2's shift, a
    // multiplexer more into the shifter's register missed the ECP5 cores' 60 MHz.)
@E4_PRODUCT@    always @(posedge clock) if (p_valid[5]) begin
        e4_sr <= e3_saturated;
        e4_x <= e3_add_operand;
        e4_exp2 <= e3_zero ? 16'd0 : exp2_y;
        e4_negative <= e3_negative;
    end

    // E4: one adder for every result: addalign ((big << 15) + aligned), addsv (a + s, s
    // through the shifter), rope (x c -+ y s, x c through the shifter), silu (m * sigmoid:
    // m * (1 - entry) = (m << 14) - m * entry for a negative input, m * entry otherwise) and, as
    // 0 + a register, the others (expneg's exp2; mul's product, E3's; the normalisations, shrv,
    // the products that pass the shifter unchanged and the values that do, from the shifter's):
    // a multiplexer after the adder took a LUT or two a bit.
    wire rope_e4 = e4_rope;
    wire silu_e4 = e4_silu;
    wire adds_x = e4_adds_op || (silu_e4 && e4_negative);
    wire signed [47:0] add_x = rope_e4 ? e4_sr : adds_x ? e4_x : 48'sd0;
    wire expneg_e4 = e4_expneg;
    wire signed [47:0] add_y = (rope_e4 || silu_e4 || e4_mul) ? {{12{e4_m2[35]}}, e4_m2}
                             : expneg_e4 ? {32'd0, e4_exp2} : e4_sr;
    wire add_subtract = rope_e4 ? (l % 2 == 0) : (silu_e4 && e4_negative);
    wire signed [47:0] result = add_x + (add_subtract ? ~add_y : add_y) + {47'd0, add_subtract};
    always @(posedge clock) if (p_valid[6]) e5_res_w[l*48 +: 48] <= result;
end
// The tables: a block RAM for each pair of lanes, a read port each.
for (l = 0; l < @V@; l = l + 2) begin : table_pair
@LANE_TABLES@
    reg [14:0] entry_even, entry_odd;
    always @(posedge clock) begin
        entry_even <= tables[table_address_w[l*10 +: 10]];
        entry_odd <= tables[table_address_w[(l+1)*10 +: 10]];
    end
    assign entry_w[l*15 +: 30] = {entry_odd, entry_even};
end
endgenerate
reg [@V@*48-1:0] e5_res_w;


// ---- writes -----------------------------------------------------------------------------
wire [@V@-1:0] write_lanes = (p_valid[7] && p_writes[7]) ? p_mask_e5 : {@V@{1'b0}};
always @(*) begin
    vm_waddr = p_dst_word_e5;
    wide_waddr = p_dst_word_e5;
    input_waddr = p_dst_word_e5;
end
// Sincos results replace the lanes' for the pair they cover.
reg [@V@*48-1:0] final_w;
integer fl;
always @(*) begin
    final_w = e5_res_w;
    fl = 0;  // (assigned on every path: no latch)
    if (p_op[7] == OP_SINCOS)
        for (fl = 0; fl < @V@; fl = fl + 1)
            final_w[fl*48 +: 48] = (fl % 2 == 0) ? {{32{sincos_value0[15]}}, sincos_value0}
                                                 : {{32{sincos_value1[15]}}, sincos_value1};
end
reg [@V@*18-1:0] vm_wdata_w;
reg [@V@*32-1:0] wide_wdata_w;
reg [@V@*8-1:0] input_wdata_w;
integer wl;
always @(*) begin
    for (wl = 0; wl < @V@; wl = wl + 1) begin
        vm_wdata_w[wl*18 +: 18] = final_w[wl*48 +: 18];
        wide_wdata_w[wl*32 +: 32] = final_w[wl*48 +: 32];
        input_wdata_w[wl*8 +: 8] = final_w[wl*48 +: 8];
    end
end
wire [@V@-1:0] vm_we_w = (p_dst_mem_e5 == M_VECTOR) ? write_lanes : {@V@{1'b0}};
wire [@V@-1:0] wide_we_w = (p_dst_mem_e5 == M_WIDE) ? write_lanes : {@V@{1'b0}};
wire [@V@-1:0] input_we_w = (p_dst_mem_e5 == M_INPUT) ? write_lanes : {@V@{1'b0}};
@UNPACK_OUTPUTS@

// ---- the reduction tree (register results) ------------------------------------------------------
// Lane accumulators take each slot's results at E5; the tree then combines lanes pairwise, one
// level a cycle, the last level writing the register file. Each lane accumulator has one adder:
// sums add, maxima subtract and look at the sign. Values are a register's @REGISTER_BITS@ bits,
// kept in @LA_BITS@: a maximum's difference needs the one more, and a sum that fits a register (a
// wider one is a fault) comes out exact however its partial sums wrap.
reg signed [@LA_BITS@-1:0] la_val [0:@V@-1];
reg [19:0] la_idx [0:@V@-1];
reg la_has [0:@V@-1];
reg t0_fire;
reg [1:0] t0_mode;
reg [5:0] t0_rd;
wire reduce_slot = p_valid[7] && p_reduce_e5 && (p_pass2_e5 || (p_op[7] != OP_NORMG));
wire reduce_max = (p_rmode_e5 == R_MAX) || (p_rmode_e5 == R_ARGMAX);
wire reduce_mag = (p_rmode_e5 == R_MAG);
// The element index of the slot's lane 0 at E5, for argmax: -lane0 at a pass's first slot, then
// V more a slot (a pass's reduced slots are consecutive).
reg signed [19:0] e5_base_next;
wire signed [19:0] e5_base = p_first_e5 ? -$signed({{(20-@LOG_V@){1'b0}}, p_lane0_e5})
                                        : e5_base_next;
always @(posedge clock) if (reduce_slot) e5_base_next <= e5_base + 20'sd@V@;
integer rl;
always @(posedge clock) begin
    t0_fire <= reduce_slot && p_last_e5;
    t0_mode <= p_rmode_e5;
    t0_rd <= p_rd0_e5;
    if (reduce_slot) begin
        for (rl = 0; rl < @V@; rl = rl + 1) begin : lanes_acc
            reg signed [@LA_BITS@-1:0] x, total;
            reg [31:0] magnitude;
            reg signed [19:0] e;
            x = {{(@LA_BITS@-48){final_w[rl*48+47]}}, final_w[rl*48 +: 48]};
            e = e5_base + $signed({12'd0, rl[7:0]});
            // The sum, or la_val - x (negative when x is larger).
            total = la_val[rl] + (reduce_max ? ~x : x) + {@LA_BITS_MINUS_1@'d0, reduce_max};
            // |x| of a stored result (32 bits at most: the ISA refuses wider ones).
            magnitude = x[31] ? 32'd0 - x[31:0] : x[31:0];
            if (p_first_e5) begin
                la_has[rl] <= p_mask_e5[rl];
                la_val[rl] <= !p_mask_e5[rl] ? @LA_BITS@'sd0 : reduce_mag ? {@LA_PAD@'d0, magnitude} : x;
                la_idx[rl] <= e;
            end else if (p_mask_e5[rl]) begin
                la_has[rl] <= 1'b1;
                if (reduce_mag) la_val[rl] <= la_val[rl] | {@LA_PAD@'d0, magnitude};
                else if (!reduce_max) la_val[rl] <= total;
                else if (!la_has[rl] || total[@LA_BITS@-1]) begin
                    la_val[rl] <= x;
                    la_idx[rl] <= e;
                end
            end
        end
    end
end
// Combine two nodes: sums add; magnitudes OR; maxima keep the larger, ties the lower element
// index. The sum, the OR, the comparison and the tie test work side by side on the registered
// nodes, and the mode only selects among their results: the last level feeds the register file
// in the same cycle.
function [@NODE_BITS@-1:0] combine(input [1:0] mode, input [@NODE_BITS@-1:0] x,
                                   input [@NODE_BITS@-1:0] y);
    reg signed [@LA_BITS@-1:0] xv, yv;
    reg [19:0] xi, yi;
    reg xh, yh;
    begin
        {xh, xi, xv} = x;
        {yh, yi, yv} = y;
        if (mode == R_SUM) combine = {xh | yh, xi, xv + yv};
        else if (mode == R_MAG) combine = {xh | yh, xi, xv | yv};
        else if (!yh) combine = x;
        else if (!xh) combine = y;
        else if (yv > xv || (yv == xv && yi < xi)) combine = y;
        else combine = x;
    end
endfunction
@TREE@


// ---- the normalisations' first pass: per-lane maxima at OP, then the fast tree ----------------------
reg [31:0] fm_abs [0:@V@-1];
reg signed [23:0] fm_top [0:@V@-1];
reg fm_any [0:@V@-1];
reg signed [23:0] fm_boff [0:@V@-1];
reg fm_has [0:@V@-1];
wire norm_first_pass = p_valid[2] && (p_op[2] == OP_NORM || p_op[2] == OP_NORMG) && !p_pass2[2];
reg f0_fire;
reg f0_normg;
reg [4:0] f0_bits;
reg signed [23:0] f0_ein;
integer nl;
always @(posedge clock) begin
    f0_fire <= norm_first_pass && p_last[2];
    f0_normg <= (p_op[2] == OP_NORMG);
    f0_bits <= p_bits[2];
    f0_ein <= ea;
    if (norm_first_pass) begin
        for (nl = 0; nl < @V@; nl = nl + 1) begin : lanes_max
            reg [31:0] ab;
            reg [5:0] length;
            reg signed [23:0] top;
            reg signed [23:0] boff;
            reg signed [24:0] room;
            reg above;
            reg on;
            ab = op_diff_w[nl*32 +: 32];
            boff = op_b_w[nl*32 +: 24];
            length = bit_length32(ab);
            top = $signed({18'd0, length}) + boff;
            // top > fm_top as length > fm_top - boff: the subtraction runs beside the bit
            // length instead of an add after it (the add and a compare after the bit length
            // were the core's critical path on the ECP5s). length is 0 to 32.
            room = {fm_top[nl][23], fm_top[nl]} - {boff[23], boff};
            above = room[24] || (room < 25'sd32 && length > room[5:0]);
            on = p_mask[2][nl];
            if (p_first[2]) begin
                fm_abs[nl] <= on ? ab : 32'd0;
                fm_any[nl] <= on && ab != 32'd0;
                fm_top[nl] <= top;
                fm_has[nl] <= on;
                fm_boff[nl] <= boff;
            end else if (on) begin
                if (ab > fm_abs[nl]) fm_abs[nl] <= ab;
                if (ab != 32'd0 && (!fm_any[nl] || above)) fm_top[nl] <= top;
                if (ab != 32'd0) fm_any[nl] <= 1'b1;
                if (!fm_has[nl] || boff > fm_boff[nl]) fm_boff[nl] <= boff;
                fm_has[nl] <= 1'b1;
            end
        end
    end
end
// A node of the fast tree: {has, boff, any, top, abs}.
function [81:0] norm_combine(input [81:0] x, input [81:0] y);
    reg [31:0] xa, ya;
    reg signed [23:0] xt, yt;
    reg xn, yn, xh, yh;
    reg signed [23:0] xb, yb;
    begin
        {xh, xb, xn, xt, xa} = x;
        {yh, yb, yn, yt, ya} = y;
        norm_combine[31:0] = (ya > xa) ? ya : xa;
        norm_combine[55:32] = (!yn || (xn && xt >= yt)) ? xt : yt;
        norm_combine[56] = xn | yn;
        norm_combine[80:57] = (!yh || (xh && xb >= yb)) ? xb : yb;
        norm_combine[81] = xh | yh;
    end
endfunction
@NORM_TREE@
// The final node gives the shift (norm) or the exponent (normg) at once: the second pass's first
// slot takes them at OP. A norm's exponent (its input's plus the shift) follows a cycle later: it
// is needed only with the last slot, a stage on (p_exp below).
wire [31:0] fn_abs = fn_node[31:0];
wire signed [23:0] fn_top = fn_node[55:32];
wire fn_any = fn_node[56];
wire signed [23:0] fn_boff = fn_node[80:57];
wire fn_has = fn_node[81];
// A norm given its input's magnitude (one pass) takes its shift from the register at RD, when
// its first slot is there: the slot before it, at OP, still shifts by the last one, and its
// exponent follows a cycle later, when that slot has left E1 (p_exp): both just in time, as
// rtl_blocks' magnitudes checks with one-pass norms straight after the other kinds of stream.
// A normg given its top bit (one pass) takes its exponent, the top less bits - 1, the same way;
// each slot's exponent result is taken at OP (normg_exp_e1), before the next normg's.
reg one_pass_rd, one_pass_normg_rd;
always @(posedge clock) begin
    one_pass_rd <= active && kind == F_NORM && fe_one_pass && s_valid && s_first
        && op != OP_NORMG;
    one_pass_normg_rd <= active && kind == F_NORM && fe_one_pass && s_valid && s_first
        && op == OP_NORMG;
end
// (Computed in the clocked block, with the fire as its enable, so that the simulator does the
// work only then.)
reg norm_exp_follows;
reg signed [23:0] norm_ein;
always @(posedge clock) begin
    norm_exp_follows <= (fn_fire && !fn_normg) || one_pass_rd;
    if (one_pass_rd) begin : given_magnitude
        // (the ISA bounds the register to 32 bits)
        norm_shift <= (p_rb[1][31:0] == 32'd0) ? 8'sd0
            : $signed({2'b0, bit_length32(p_rb[1][31:0])}) - $signed({3'b0, p_bits[1]}) + 8'sd1;
        norm_ein <= p_ra[1][23:0];
    end
    if (fn_fire) begin : final_node
        reg signed [7:0] shift;
        shift = (fn_abs == 32'd0) ? 8'sd0
            : $signed({2'b0, bit_length32(fn_abs)}) - $signed({3'b0, fn_bits}) + 8'sd1;
        norm_shift <= shift;
        norm_ein <= fn_ein;
        if (fn_normg)
            normg_exp <= fn_any ? fn_top - $signed({19'd0, fn_bits}) + 24'sd1
                                : (fn_has ? fn_boff : 24'sd0);
    end
    // (the ISA bounds exponents to 20 bits)
    if (one_pass_normg_rd) normg_exp <= p_ra[1][23:0] - $signed({19'd0, p_bits[1]}) + 24'sd1;
    if (norm_exp_follows) norm_exp <= norm_ein + $signed({{16{norm_shift[7]}}, norm_shift});
end
reg signed [23:0] normg_exp_e1;
always @(posedge clock) normg_exp_e1 <= normg_exp;
// Exponent results (norm, normg, addalign) leave with the instruction's last slot at E5, on
// port 1: last slots are one a cycle at most, so these writes never meet. They are taken at E1
// (addalign's registered at OP), when a norm's exponent has followed its shift.
reg signed [23:0] p_exp [4:7];
reg [5:0] p_rd1_late [3:7];
reg signed [23:0] align_exp;
integer xs;
always @(posedge clock) begin
    align_exp <= (p_a_big[2] ? ea : eb) - 24'sd15;
    p_exp[4] <= (p_op[3] == OP_ADDALIGN) ? align_exp
              : (p_op[3] == OP_NORMG) ? normg_exp_e1 : norm_exp;
    p_rd1_late[3] <= p_rd1[2];
    for (xs = 4; xs <= 7; xs = xs + 1) p_rd1_late[xs] <= p_rd1_late[xs-1];
    for (xs = 5; xs <= 7; xs = xs + 1) p_exp[xs] <= p_exp[xs-1];
end
always @(*) begin
    vxu_we1 = p_valid[7] && p_last_e5
        && (((p_op[7] == OP_NORM || p_op[7] == OP_NORMG) && p_pass2_e5) || p_op[7] == OP_ADDALIGN);
    vxu_wa1 = p_rd1_late[7];
    vxu_wd1 = {{40{p_exp[7][23]}}, p_exp[7]};
end


// ---- sincos: two elements a cycle through four multipliers and the sine table ------------------------
reg [31:0] sc_step0, sc_step1;
reg sc_odd0;
wire [@V@*32-1:0] sc_words = (p_a_mem[1] == M_ACC) ? acc_a_w : wide_w;
always @(posedge clock) begin
    sc_step0 <= sc_words[{p_pair[1], 1'b0}*32 +: 32];
    sc_step1 <= sc_words[{p_pair[1], 1'b1}*32 +: 32];
    // Element index parity of the pair's first lane: even elements take the cosine.
    sc_odd0 <= p_base[1][0];
end
reg [31:0] sc_lo0, sc_lo1;
// Only the low 16 bits of the high products reach the 32-bit phase.
reg [15:0] sc_hi0, sc_hi1;
reg sc_odd0_e1;
@SINCOS_PRODUCTS@always @(posedge clock) sc_odd0_e1 <= sc_odd0;
// The phase's table address: `cosine` reads a quarter turn on.
// `phase` is the top 13 bits of the 32-bit phase (its 12-bit index and the rounding bit).
function [11:0] sine_address(input [12:0] phase, input cosine);
    reg [11:0] index;
    reg [9:0] offset;
    begin
        index = phase[12:1] + {11'd0, phase[0]} + (cosine ? 12'd@QUARTER@ : 12'd0);
        offset = index[9:0];
        // {negative, 1024 (the table's end point), address}
        if (index[10]) sine_address = {index[11], (offset == 10'd0), 10'd0 - offset};
        else sine_address = {index[11], 1'b0, offset};
    end
endfunction
wire [31:0] sc_phase0 = sc_lo0 + {sc_hi0, 16'd0};
wire [31:0] sc_phase1 = sc_lo1 + {sc_hi1, 16'd0};
wire unused_phase = &{1'b0, sc_phase0[18:0], sc_phase1[18:0]};
reg [11:0] sc_addr0, sc_addr1;
always @(posedge clock) begin
    sc_addr0 <= sine_address(sc_phase0[31:19], !sc_odd0_e1);
    sc_addr1 <= sine_address(sc_phase1[31:19], sc_odd0_e1);
end
reg [14:0] sine [0:@QUARTER@-1];
initial begin
@SINE_INIT@
end
reg [14:0] sc_rom0, sc_rom1;
reg [1:0] sc_flags0, sc_flags1;
always @(posedge clock) begin
    sc_rom0 <= sine[sc_addr0[9:0]];
    sc_rom1 <= sine[sc_addr1[9:0]];
    sc_flags0 <= sc_addr0[11:10];
    sc_flags1 <= sc_addr1[11:10];
end
wire [15:0] sc_mag0 = sc_flags0[0] ? 16'd@Q14_ONE@ : {1'b0, sc_rom0};
wire [15:0] sc_mag1 = sc_flags1[0] ? 16'd@Q14_ONE@ : {1'b0, sc_rom1};
// The values, registered twice to meet the pipeline's write stage (E5).
reg [15:0] sc_value0, sc_value1, sincos_value0, sincos_value1;
always @(posedge clock) begin
    sc_value0 <= sc_flags0[1] ? -sc_mag0 : sc_mag0;
    sc_value1 <= sc_flags1[1] ? -sc_mag1 : sc_mag1;
    sincos_value0 <= sc_value0;
    sincos_value1 <= sc_value1;
end


// ---- cache stores: read, modify and write a matrix word -----------------------------------------------
// kvstore reads element d at cycle 2d and matrix word d at 2d + 1, and writes the word at
// 2d + 2 with lane `pos % lanes` replaced; kvexp reads at 1 and writes at 2. The matrix memory
// merges the byte into the word it read, in each tile (memory.rs).
reg [7:0] kv_exp_value;
wire kv_read = active && ((kind == F_KVSTORE && cnt[0]) || (kind == F_KVEXP && cnt == 32'd1));
// The word to read next (the first at issue, then one more with each read), from a register:
// on the 85F the address goes to 145 block RAMs, whose wires leave no time for an adder.
reg [19:0] kv_read_addr;
always @(posedge clock) begin
    if (issue_vxu) begin
        kv_read_addr <= d_mm + ((d_kind == F_KVSTORE) ? ({4'd0, pos >> @LOG_L@} * issue_len[15:0])
                                                      : {4'd0, pos >> @LOG_L@});
        // The register saturated to int8: as logic (whether bits 63..7 are all the sign), where
        // two 64-bit comparisons took a carry chain each.
        kv_exp_value <= (issue_ra[63:7] == {57{issue_ra[63]}}) ? issue_ra[7:0]
                      : issue_ra[63] ? 8'h80 : 8'd127;
    end else if (kv_read) begin
        kv_read_addr <= kv_read_addr + 20'd1;
    end
end
// The byte to write, registered in the read's cycle, and so from a register to the block RAMs
// too: kvexp's value (the next instruction's issue reloads kv_exp_value in this cycle, before
// the write), or the low byte of the element the vector memory gives now (kvstore's source is
// always there), in lane kv_lane of its word.
reg kv_write;
reg [19:0] kv_write_addr;
reg [@LOG_V@-1:0] kv_lane;
reg [7:0] kv_byte;
always @(posedge clock) begin
    kv_write <= kv_read;
    kv_write_addr <= kv_read_addr;
    kv_lane <= kv_read_lane;
    kv_byte <= (kind == F_KVEXP) ? kv_exp_value : vm_a_w[kv_lane*18 +: 8];
end
always @(*) begin
    mm_b_byte = kv_byte;
    mm_b_lane = @MM_LANE@;
    mm_b_we = kv_write;
    mm_b_addr = kv_write ? kv_write_addr : kv_read_addr;
end

