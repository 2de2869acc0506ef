// The vector unit: @V@ lanes, one pipeline for every instruction.
//
// The issued instruction arrives registered (cycle k, the cycle after issue). The front end
// (FE) then produces one *slot* per cycle for `occupancy` cycles: a slot reads one word of each
// streamed operand (port A: the first vector operand read, port B: the second) and carries its
// lane mask, destination and flags down the pipeline:
//
//   FE (k+i) -> RD (memory data) -> OP (operands) -> E1 -> E2 -> E3 -> E4 -> write (end of E4)
//
// so a slot read in cycle k+i is written at the end of cycle k+i+6 and visible at k+i+7: the
// contract's VXU_PIPELINE_CYCLES counted from issue. Register results leave E4 into the lane
// accumulators and through the reduction tree (log2 V levels) into the register file.
// Normalisations make two passes: the first feeds the fast max tree from OP, whose result
// (the shift) is ready when the second pass's first slot reaches OP.

@OPCODES@
@PACK_INPUTS@
localparam [3:0] F_STREAM = 4'd0, F_NORM = 4'd1, F_SINCOS = 4'd2, F_KVSTORE = 4'd3,
                 F_KVEXP = 4'd4, F_GETV = 4'd5, F_SETV = 4'd6;
localparam [1:0] M_VECTOR = 2'd0, M_ACC = 2'd1, M_WIDE = 2'd2, M_INPUT = 2'd3;
localparam [1:0] R_SUM = 2'd0, R_MAX = 2'd1, R_ARGMAX = 2'd2;

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
// Word of `address` within its memory.
function [15:0] local_word(input [15:0] address);
    reg [15:0] base;
    begin
        case (memory_of(address))
            M_VECTOR: base = 16'd0;
            M_ACC: base = ACC_BASE;
            M_WIDE: base = WIDE_BASE;
            default: base = INPUT_BASE;
        endcase
        local_word = (address - base) >> @LOG_V@;
    end
endfunction

function [5:0] bit_length32(input [31:0] x);
    integer i;
    begin
        bit_length32 = 6'd0;
        for (i = 0; i < 32; i = i + 1)
            if (x[i]) bit_length32 = i[5:0] + 6'd1;
    end
endfunction

@EXP2_TABLE@
@SIGMOID_TABLE@

// ---- decode of the issued instruction ---------------------------------------------------------
reg [3:0] d_kind;
reg [15:0] d_a, d_b, d_dst;
reg d_has_a, d_has_dst;
reg [4:0] d_bits;
reg [5:0] d_rd0, d_rd1;
reg [19:0] d_mm;
reg d_reduce;
reg [1:0] d_rmode;
wire [7:0] d_op = issue_instr[7:0];
always @(*) begin
    d_kind = F_STREAM;
    d_a = 16'd0;
    d_b = 16'd0;
    d_dst = 16'd0;
    d_has_a = 1'b0;
    d_has_dst = 1'b0;
    d_bits = 5'd0;
    d_rd0 = 6'd0;
    d_rd1 = 6'd0;
    d_mm = 20'd0;
    d_reduce = 1'b0;
    d_rmode = R_SUM;
    case (d_op)
@DECODE@
        default: ;
    endcase
end

// The instruction's other fields (waits, the sequencer's) are not the vector unit's.
wire unused_instr = &{1'b0, issue_instr};

// ---- front end ----------------------------------------------------------------------------
reg fe_on;
reg [7:0] fe_op;
reg [3:0] fe_kind;
reg [17:0] fe_len;
reg [31:0] fe_cnt, fe_occ;
reg [15:0] fe_a_word, fe_b_word, fe_dst_word;
reg [1:0] fe_a_mem, fe_b_mem, fe_dst_mem;
reg [@LOG_V@-1:0] fe_lane0;
reg [17:0] fe_c;
reg fe_reduce;
reg [1:0] fe_rmode;
reg [4:0] fe_bits;
reg [5:0] fe_rd0, fe_rd1;
reg [63:0] fe_ra, fe_rb, fe_rc;

// The instruction as the front end sees it this cycle: from the bus on its first cycle.
wire first_cycle = issue_vxu;
wire [@LOG_V@-1:0] lane_ref = d_has_a ? d_a[@LOG_V@-1:0] : d_dst[@LOG_V@-1:0];
wire [15:0] d_element_early = (d_kind == F_GETV ? d_a : d_dst) + issue_ra[15:0];
wire [@LOG_V@-1:0] d_lane0 = (d_kind == F_GETV || d_kind == F_SETV) ? d_element_early[@LOG_V@-1:0]
                                                                    : lane_ref;
wire [18:0] d_span = {1'b0, issue_len} + {{(19-@LOG_V@){1'b0}}, d_lane0} + 19'd@V_MINUS_1@;
wire [18:0] d_span_words = d_span >> @LOG_V@;
wire [17:0] d_c = (issue_len == 18'd0) ? 18'd0 : d_span_words[17:0];
wire unused_span = d_span_words[18];
// getv and setv address one element, offset by a register.
wire [15:0] d_element = d_element_early;
reg [31:0] d_occ;
always @(*) begin
    case (d_kind)
        F_NORM: d_occ = ((d_c == 18'd0) ? 32'd2 : {13'd0, d_c, 1'b0}) + 32'd@NORM_GAP@;
        F_SINCOS: d_occ = {14'd0, d_c} << @LOG_HALF_V@;
        F_KVSTORE: d_occ = (issue_len == 18'd0) ? 32'd2 : {13'd0, issue_len, 1'b0};
        F_KVEXP: d_occ = 32'd2;
        F_GETV, F_SETV: d_occ = 32'd1;
        default: d_occ = {14'd0, d_c};
    endcase
    if (d_occ == 32'd0) d_occ = 32'd1;
end

wire [7:0] op = first_cycle ? d_op : fe_op;
wire [3:0] kind = first_cycle ? d_kind : fe_kind;
wire [31:0] cnt = first_cycle ? 32'd0 : fe_cnt;
wire [17:0] len = first_cycle ? issue_len : fe_len;
wire [17:0] c = first_cycle ? d_c : fe_c;
// Words a pass streams: a reduction or normalisation over nothing still makes one empty slot.
wire [17:0] c_pass = (c == 18'd0) ? 18'd1 : c;
wire [@LOG_V@-1:0] lane0 = first_cycle ? d_lane0 : fe_lane0;
wire [15:0] a_word = first_cycle ? (kind == F_GETV ? d_element >> @LOG_V@ : d_a >> @LOG_V@) : fe_a_word;
wire [15:0] b_word = first_cycle ? d_b >> @LOG_V@ : fe_b_word;
wire [15:0] dst_word = first_cycle ? (kind == F_SETV ? d_element >> @LOG_V@ : d_dst >> @LOG_V@) : fe_dst_word;
wire [1:0] a_mem = first_cycle ? memory_of(kind == F_GETV ? d_element : d_a) : fe_a_mem;
wire [1:0] b_mem = first_cycle ? memory_of(d_b) : fe_b_mem;
wire [1:0] dst_mem = first_cycle ? memory_of(kind == F_SETV ? d_element : d_dst) : fe_dst_mem;
wire active = first_cycle || fe_on;
always @(posedge clock) begin
    if (issue_vxu) begin
        fe_on <= (d_occ > 32'd1);
        fe_op <= d_op;
        fe_kind <= d_kind;
        fe_len <= issue_len;
        fe_cnt <= 32'd1;
        fe_occ <= d_occ;
        fe_a_word <= a_word;
        fe_b_word <= b_word;
        fe_dst_word <= dst_word;
        fe_a_mem <= a_mem;
        fe_b_mem <= b_mem;
        fe_dst_mem <= dst_mem;
        fe_lane0 <= d_lane0;
        fe_c <= d_c;
        fe_reduce <= d_reduce;
        fe_rmode <= d_rmode;
        fe_bits <= d_bits;
        fe_rd0 <= d_rd0;
        fe_rd1 <= d_rd1;
        fe_ra <= issue_ra;
        fe_rb <= issue_rb;
        fe_rc <= issue_rc;
    end else if (fe_on) begin
        fe_cnt <= fe_cnt + 32'd1;
        if (fe_cnt + 32'd1 >= fe_occ) fe_on <= 1'b0;
    end
end
wire [63:0] ra = first_cycle ? issue_ra : fe_ra;
wire [63:0] rb = first_cycle ? issue_rb : fe_rb;
wire [63:0] rc = first_cycle ? issue_rc : fe_rc;
wire reduce = first_cycle ? d_reduce : fe_reduce;
wire [1:0] rmode = first_cycle ? d_rmode : fe_rmode;
wire [4:0] bits = first_cycle ? d_bits : fe_bits;
wire [5:0] rd0 = first_cycle ? d_rd0 : fe_rd0;
wire [5:0] rd1 = first_cycle ? d_rd1 : fe_rd1;

reg fe_has_dst;
always @(posedge clock) if (issue_vxu) fe_has_dst <= d_has_dst;
wire has_dst = first_cycle ? d_has_dst : fe_has_dst;

// The slot of this cycle.
reg s_valid, s_pass2, s_first, s_last, s_writes;
reg [17:0] s_chunk;
reg [@LOG_HALF_V_BITS@-1:0] s_pair;
always @(*) begin
    s_valid = 1'b0;
    s_pass2 = 1'b0;
    s_chunk = 18'd0;
    s_pair = {@LOG_HALF_V_BITS@{1'b0}};
    s_writes = 1'b0;
    case (kind)
        F_NORM: begin
            // Both passes stream at least one word (empty when n is 0).
            if (cnt < {14'd0, c_pass}) begin
                s_valid = 1'b1;
                s_chunk = cnt[17:0];
            end else if (cnt >= {14'd0, c_pass} + 32'd@NORM_GAP@) begin
                s_valid = 1'b1;
                s_pass2 = 1'b1;
                s_writes = 1'b1;
                s_chunk = cnt[17:0] - c_pass - 18'd@NORM_GAP@;
            end
        end
        F_SINCOS: begin
            s_chunk = cnt[17+@LOG_HALF_V@:@LOG_HALF_V@];
            s_pair = @PAIR_OF_CNT@;
            s_valid = (s_chunk < c);
            s_writes = s_valid;
        end
        F_KVSTORE: begin
            // Even cycles read element cnt/2; the read-modify-write follows.
            s_chunk = cnt[18:1];
        end
        F_KVEXP: ;
        F_GETV: begin
            s_valid = (cnt == 32'd0);
        end
        F_SETV: begin
            s_valid = (cnt == 32'd0);
            s_writes = s_valid;
        end
        default: begin
            // Streamed operations; one empty slot for a reduction over nothing.
            s_valid = (cnt < {14'd0, c_pass}) && (c != 18'd0 || reduce);
            s_chunk = cnt[17:0];
            s_writes = s_valid && has_dst;
        end
    endcase
    s_first = (s_chunk == 18'd0);
    s_last = (s_chunk == c_pass - 18'd1);
end
// Lane mask of the slot: lanes whose element index lies in 0 .. len.
reg [@V@-1:0] s_mask;
reg signed [19:0] s_base;
integer ml;
always @(*) begin
    s_base = $signed({2'b0, s_chunk} << @LOG_V@) - $signed({{(20-@LOG_V@){1'b0}}, lane0});
    for (ml = 0; ml < @V@; ml = ml + 1) begin
        s_mask[ml] = s_valid && (s_base + $signed({12'd0, ml[7:0]}) >= 20'sd0)
            && (s_base + $signed({12'd0, ml[7:0]}) < $signed({2'b0, len}));
    end
    if (kind == F_GETV || kind == F_SETV) s_mask = s_valid ? ({{(@V@-1){1'b0}}, 1'b1} << lane0) : {@V@{1'b0}};
    if (kind == F_SINCOS) s_mask = s_mask & ({{(@V@-2){1'b0}}, 2'b11} << {s_pair, 1'b0});
end

// Reads of this slot's words (data the next cycle).
wire [15:0] a_read_word = a_word + s_chunk[15:0];
wire [15:0] b_read_word = b_word + s_chunk[15:0];
reg [15:0] fe_a_element;
always @(posedge clock) if (issue_vxu) fe_a_element <= d_a;
wire [15:0] kv_element = (first_cycle ? d_a : fe_a_element) + s_chunk[15:0];
wire [15:0] kv_word = local_word(kv_element);
// Each memory takes the word within itself.
always @(*) begin
    vm_raddr_a = (kind == F_KVSTORE) ? kv_word : a_read_word;
    acc_raddr_a = a_read_word - ACC_WORD;
    vm_raddr_b = b_read_word;
    acc_raddr_b = b_read_word - ACC_WORD;
    wide_raddr = ((b_mem == M_WIDE) ? b_read_word : a_read_word) - WIDE_WORD;
end

// ---- the slot's control down the pipeline --------------------------------------------------------
// Stage index: 1 RD, 2 OP, 3 E1, 4 E2, 5 E3, 6 E4.
reg p_valid [1:6];
reg [7:0] p_op [1:6];
reg [@V@-1:0] p_mask [1:6];
reg p_pass2 [1:6];
reg p_first [1:6];
reg p_last [1:6];
reg p_writes [1:6];
reg [15:0] p_dst_word [1:6];
reg [1:0] p_dst_mem [1:6];
reg signed [19:0] p_base [1:6];
reg [@LOG_HALF_V_BITS@-1:0] p_pair [1:6];
reg p_reduce [1:6];
reg [1:0] p_rmode [1:6];
reg [5:0] p_rd0 [1:6];
reg [1:0] p_a_mem [1:6];
reg [1:0] p_b_mem [1:6];
reg [@LOG_V@-1:0] p_lane0 [1:6];
integer ps;
always @(posedge clock) begin
    p_valid[1] <= active && s_valid;
    p_op[1] <= op;
    p_mask[1] <= s_mask;
    p_pass2[1] <= s_pass2;
    p_first[1] <= s_first;
    p_last[1] <= s_last;
    p_writes[1] <= active && s_writes;
    p_dst_word[1] <= local_word_of(dst_mem, dst_word + s_chunk[15:0]);
    p_dst_mem[1] <= dst_mem;
    p_base[1] <= s_base;
    p_pair[1] <= s_pair;
    p_reduce[1] <= reduce;
    p_rmode[1] <= rmode;
    p_rd0[1] <= rd0;
    p_a_mem[1] <= a_mem;
    p_b_mem[1] <= b_mem;
    p_lane0[1] <= lane0;
    for (ps = 2; ps <= 6; ps = ps + 1) begin
        p_valid[ps] <= p_valid[ps-1];
        p_op[ps] <= p_op[ps-1];
        p_mask[ps] <= p_mask[ps-1];
        p_pass2[ps] <= p_pass2[ps-1];
        p_first[ps] <= p_first[ps-1];
        p_last[ps] <= p_last[ps-1];
        p_writes[ps] <= p_writes[ps-1];
        p_dst_word[ps] <= p_dst_word[ps-1];
        p_dst_mem[ps] <= p_dst_mem[ps-1];
        p_base[ps] <= p_base[ps-1];
        p_pair[ps] <= p_pair[ps-1];
        p_reduce[ps] <= p_reduce[ps-1];
        p_rmode[ps] <= p_rmode[ps-1];
        p_rd0[ps] <= p_rd0[ps-1];
        p_a_mem[ps] <= p_a_mem[ps-1];
        p_b_mem[ps] <= p_b_mem[ps-1];
        p_lane0[ps] <= p_lane0[ps-1];
    end
end
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


// The normalisations' shift (norm) or exponent (normg), set between their two passes.
reg signed [7:0] norm_shift;
reg signed [63:0] norm_exp;

// ---- lanes ----------------------------------------------------------------------------------
// Per-instruction scalars travel with the slots as far as they are used.
reg [63:0] p_ra [1:2];
reg [63:0] p_rb [1:2];
reg [63:0] p_rc [1:2];
reg [4:0] p_bits [1:4];
reg [5:0] p_rd1 [1:2];
reg p_a_big [1:2];
always @(posedge clock) begin
    p_ra[1] <= ra;
    p_rb[1] <= rb;
    p_rc[1] <= rc;
    p_ra[2] <= p_ra[1];
    p_rb[2] <= p_rb[1];
    p_rc[2] <= p_rc[1];
    p_bits[1] <= bits;
    p_bits[2] <= p_bits[1];
    p_bits[3] <= p_bits[2];
    p_bits[4] <= p_bits[3];
    p_rd1[1] <= rd1;
    p_rd1[2] <= p_rd1[1];
    // addalign: the operand with the larger exponent is aligned by a fixed 15 bits.
    p_a_big[1] <= $signed(ra) >= $signed(rb);
    p_a_big[2] <= p_a_big[1];
end
wire [7:0] op_op = p_op[2];
// Shifts that are the same for the whole instruction (computed at OP from its scalars).
wire signed [63:0] ea = p_ra[2], eb = p_rb[2];
// addalign: E = max(ea, eb) - 15; the other operand shifts by E - its exponent.
wire signed [63:0] align_shift = p_a_big[2] ? (ea - 64'sd15 - eb) : (eb - 64'sd15 - ea);
// silu: shift_round(m, -(e + 6)).
wire signed [63:0] silu_shift = -($signed(p_ra[2]) + 64'sd@SIGMOID_FRACTION@);
// Clamp a shift to the shifter's range: right shifts past 63 and left shifts past 63 saturate
// the same way as the contract's shift_round on the values that reach them.
function signed [7:0] clamp_shift(input signed [63:0] s);
    begin
        if (s > 64'sd63) clamp_shift = 8'sd63;
        else if (s < -64'sd63) clamp_shift = -8'sd63;
        else clamp_shift = s[7:0];
    end
endfunction

reg [@V@*32-1:0] op_a_w, op_b_w;
reg [@V@*18-1:0] op_d_w;
reg [@V@*32-1:0] op_abs_w, op_boff_w;
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
    wire signed [31:0] b_plus_off = b_raw + p_ra[1][31:0];
    wire signed [17:0] a_minus_max = a_raw[17:0] - p_ra[1][17:0];
    always @(posedge clock) begin
        op_a_w[l*32 +: 32] <= a_raw;
        op_b_w[l*32 +: 32] <= b_raw;
        op_abs_w[l*32 +: 32] <= a_raw[31] ? -a_raw : a_raw;
        op_boff_w[l*32 +: 32] <= b_plus_off;
        op_d_w[l*18 +: 18] <= a_minus_max;
    end

    // OP -> E1.
    wire signed [31:0] a = op_a_w[l*32 +: 32];
    wire signed [31:0] b = op_b_w[l*32 +: 32];
    // Multiplier inputs are 18-bit values (the ISA refuses others).
    wire signed [17:0] d = op_d_w[l*18 +: 18];
    wire signed [17:0] partner_a = op_a_w[(l ^ 1)*32 +: 18];
    wire signed [17:0] pair_cos = op_b_w[(l & ~1)*32 +: 18];
    wire signed [17:0] pair_sin = op_b_w[(l | 1)*32 +: 18];
    wire signed [19:0] element = p_base[2] + l;
    reg signed [17:0] m1_x, m1_y;
    reg signed [47:0] sr_x;
    reg signed [63:0] sr_shift;
    reg signed [47:0] value;
    always @(*) begin
        m1_x = a[17:0];
        m1_y = b[17:0];
        sr_x = {{16{a[31]}}, a};
        sr_shift = 64'sd0;
        value = {{16{a[31]}}, a};
        case (op_op)
            OP_MULS: m1_y = p_ra[2][17:0];
            OP_SUMSQ: m1_y = a[17:0];
            OP_EXPNEG: begin
                m1_x = d;
                m1_y = p_rb[2][17:0];
                sr_shift = p_rc[2];
            end
            OP_ROPE: m1_y = pair_cos;
            OP_NORM: sr_shift = {{56{norm_shift[7]}}, norm_shift};
            OP_NORMG: sr_shift = norm_exp - $signed({{32{op_boff_w[l*32+31]}}, op_boff_w[l*32 +: 32]});
            OP_SHRV: sr_shift = $signed(p_ra[2]) - $signed({{32{b[31]}}, b});
            OP_ADDALIGN: begin
                sr_x = p_a_big[2] ? {{16{b[31]}}, b} : {{16{a[31]}}, a};
                sr_shift = align_shift;
            end
            OP_ADDSV: value = {{16{a[31]}}, a} + {{16{p_ra[2][31]}}, p_ra[2][31:0]};
            OP_FILL: value = {{16{p_ra[2][31]}}, p_ra[2][31:0]};
            OP_SETV: value = p_rb[2][47:0];
            OP_ONEHOT: value = ({{44{element[19]}}, element} == p_ra[2]) ? 48'sd1 : 48'sd0;
            default: ;
        endcase
    end
    // silu's sigmoid input: shift_round(m, silu_shift), clamped to the table.
    wire signed [7:0] silu_sh = clamp_shift(silu_shift);
    wire signed [47:0] silu_a = {{16{a[31]}}, a};
    wire signed [47:0] silu_t = (silu_sh > 8'sd0) ? (silu_a >>> (silu_sh - 8'sd1))
                                                 : (silu_a <<< (-silu_sh));
    wire signed [47:0] silu_r = (silu_sh > 8'sd0) ? ((silu_t + 48'sd1) >>> 1) : silu_t;
    wire signed [9:0] silu_q = (silu_r > 48'sd@SIGMOID_MAX@) ? 10'sd@SIGMOID_MAX@
                             : (silu_r < -48'sd@SIGMOID_MAX@) ? -10'sd@SIGMOID_MAX@ : silu_r[9:0];
    reg signed [35:0] e1_m1;
    reg signed [47:0] e1_sr_x, e1_value;
    reg signed [7:0] e1_sh;
    reg signed [9:0] e1_q;
    reg signed [31:0] e1_big;
    reg signed [17:0] e1_a, e1_other_x, e1_sin;
    always @(posedge clock) begin
        e1_m1 <= m1_x * m1_y;
        e1_sr_x <= sr_x;
        e1_sh <= clamp_shift(sr_shift);
        e1_value <= value;
        e1_q <= silu_q;
        e1_a <= a[17:0];
        e1_big <= p_a_big[2] ? a : b;
        e1_other_x <= partner_a;
        e1_sin <= pair_sin;
    end

    // E1 -> E2: the shift of shift_round (t = x >> (s - 1), or x << -s), the sigmoid.
    wire signed [63:0] shift_in = (p_op[3] == OP_EXPNEG) ? {{28{e1_m1[35]}}, e1_m1}
                                                        : {{16{e1_sr_x[47]}}, e1_sr_x};
    wire signed [63:0] shifted = (e1_sh > 8'sd0) ? (shift_in >>> (e1_sh - 8'sd1))
                                                 : (shift_in <<< (-e1_sh));
    wire [8:0] q_abs = e1_q[9] ? 9'd0 - e1_q[8:0] : e1_q[8:0];
    wire [14:0] sig_table = sigmoid_table(q_abs);
    reg signed [63:0] e2_t;
    reg e2_right;
    reg signed [15:0] e2_sig;
    reg signed [35:0] e2_m1;
    reg signed [47:0] e2_value;
    reg signed [31:0] e2_big;
    reg signed [17:0] e2_a, e2_other_x, e2_sin;
    always @(posedge clock) begin
        e2_t <= shifted;
        e2_right <= (e1_sh > 8'sd0);
        e2_sig <= e1_q[9] ? (16'sd@Q14_ONE@ - {1'b0, sig_table}) : {1'b0, sig_table};
        e2_m1 <= e1_m1;
        e2_value <= e1_value;
        e2_a <= e1_a;
        e2_big <= e1_big;
        e2_other_x <= e1_other_x;
        e2_sin <= e1_sin;
    end

    // E2 -> E3: the rounding (and its negation for expneg), saturation, the second product.
    wire signed [63:0] rounded = e2_right ? ((e2_t + 64'sd1) >>> 1) : e2_t;
    wire signed [63:0] negated = e2_right ? ((-e2_t) >>> 1) : -e2_t;
    wire [4:0] sat_bits = p_bits[4];
    wire signed [63:0] sat_max = (64'sd1 <<< (sat_bits - 5'd1)) - 64'sd1;
    wire saturating = (p_op[4] == OP_NORM) || (p_op[4] == OP_NORMG);
    wire signed [63:0] saturated = !saturating ? rounded
        : (rounded > sat_max) ? sat_max : (rounded < -sat_max) ? -sat_max : rounded;
    wire signed [17:0] m2_x = (p_op[4] == OP_SILU) ? e2_a : e2_other_x;
    wire signed [17:0] m2_y = (p_op[4] == OP_SILU) ? {{2{e2_sig[15]}}, e2_sig} : e2_sin;
    reg signed [47:0] e3_sr;
    reg signed [63:0] e3_neg;
    reg signed [35:0] e3_m1, e3_m2;
    reg signed [47:0] e3_value;
    reg signed [31:0] e3_big;
    always @(posedge clock) begin
        e3_sr <= saturated[47:0];
    end
    wire unused_saturated = &{1'b0, saturated[63:48]};
    always @(posedge clock) begin
        e3_neg <= negated;
        e3_m1 <= e2_m1;
        e3_m2 <= m2_x * m2_y;
        e3_value <= e2_value;
        e3_big <= e2_big;
    end

    // E3 -> E4: the result.
    wire exp2_zero = (e3_neg >= 64'sd@EXP2_LIMIT@) || (e3_neg < 64'sd0);
    wire [15:0] exp2_entry = {1'b0, exp2_table(e3_neg[7:0])};
    wire [3:0] exp2_shift = e3_neg[11:8];
    wire [15:0] exp2_t = (exp2_shift == 4'd0) ? exp2_entry : (exp2_entry >> (exp2_shift - 4'd1));
    wire [15:0] exp2_y = (exp2_shift == 4'd0) ? exp2_t : ((exp2_t + 16'd1) >> 1);
    reg signed [47:0] result;
    always @(*) begin
        case (p_op[5])
            OP_NORM, OP_NORMG, OP_SHRV: result = e3_sr;
            OP_ADDALIGN: result = ({{16{e3_big[31]}}, e3_big} <<< 15) + e3_sr;
            OP_SILU: result = {{12{e3_m2[35]}}, e3_m2};
            OP_ROPE: result = (l % 2 == 0) ? {{12{e3_m1[35]}}, e3_m1} - {{12{e3_m2[35]}}, e3_m2}
                                           : {{12{e3_m1[35]}}, e3_m1} + {{12{e3_m2[35]}}, e3_m2};
            OP_EXPNEG: result = exp2_zero ? 48'sd0 : {32'd0, exp2_y};
            OP_MUL, OP_MULS, OP_SUMSQ: result = {{12{e3_m1[35]}}, e3_m1};
            default: result = e3_value;
        endcase
    end
    always @(posedge clock) e4_res_w[l*48 +: 48] <= result;
end
endgenerate
reg [@V@*48-1:0] e4_res_w;


// ---- writes -----------------------------------------------------------------------------
wire [@V@-1:0] write_lanes = (p_valid[6] && p_writes[6]) ? p_mask[6] : {@V@{1'b0}};
always @(*) begin
    vm_waddr = p_dst_word[6];
    wide_waddr = p_dst_word[6];
    input_waddr = p_dst_word[6];
end
// Sincos results replace the lanes' for the pair they cover.
reg [@V@*48-1:0] final_w;
integer fl;
always @(*) begin
    final_w = e4_res_w;
    for (fl = 0; fl < @V@; fl = fl + 1)
        if (p_op[6] == OP_SINCOS)
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
wire [@V@-1:0] vm_we_w = (p_dst_mem[6] == M_VECTOR) ? write_lanes : {@V@{1'b0}};
wire [@V@-1:0] wide_we_w = (p_dst_mem[6] == M_WIDE) ? write_lanes : {@V@{1'b0}};
wire [@V@-1:0] input_we_w = (p_dst_mem[6] == M_INPUT) ? write_lanes : {@V@{1'b0}};
@UNPACK_OUTPUTS@

// ---- the reduction tree (register results) ------------------------------------------------------
// Lane accumulators take each slot's results at E4; the tree then combines lanes pairwise, one
// level a cycle, the last level writing the register file.
reg signed [63:0] la_val [0:@V@-1];
reg [19:0] la_idx [0:@V@-1];
reg la_has [0:@V@-1];
reg t0_fire;
reg [1:0] t0_mode;
reg [5:0] t0_rd;
wire reduce_slot = p_valid[6] && p_reduce[6] && (p_pass2[6] || (p_op[6] != OP_NORMG));
integer rl;
always @(posedge clock) begin
    t0_fire <= reduce_slot && p_last[6];
    t0_mode <= p_rmode[6];
    t0_rd <= p_rd0[6];
    if (reduce_slot) begin
        for (rl = 0; rl < @V@; rl = rl + 1) begin : lanes_acc
            reg signed [63:0] x;
            reg signed [19:0] e;
            x = {{16{final_w[rl*48+47]}}, final_w[rl*48 +: 48]};
            e = p_base[6] + $signed({12'd0, rl[7:0]});
            if (p_first[6]) begin
                la_has[rl] <= p_mask[6][rl];
                la_val[rl] <= p_mask[6][rl] ? x : 64'sd0;
                la_idx[rl] <= e;
            end else if (p_mask[6][rl]) begin
                la_has[rl] <= 1'b1;
                case (p_rmode[6])
                    R_SUM: la_val[rl] <= la_val[rl] + x;
                    default: if (!la_has[rl] || x > la_val[rl]) begin
                        la_val[rl] <= x;
                        la_idx[rl] <= e;
                    end
                endcase
            end
        end
    end
end
// Combine two nodes: sums add; maxima keep the larger, ties the lower element index.
function [84:0] combine(input [1:0] mode, input [84:0] x, input [84:0] y);
    reg signed [63:0] xv, yv;
    reg [19:0] xi, yi;
    reg xh, yh;
    begin
        {xh, xi, xv} = x;
        {yh, yi, yv} = y;
        if (mode == R_SUM) combine = {xh | yh, xi, xv + yv};
        else if (!yh) combine = x;
        else if (!xh) combine = y;
        else if (yv > xv || (yv == xv && yi < xi)) combine = y;
        else combine = x;
    end
endfunction
@TREE@


// ---- the normalisations' first pass: per-lane maxima at OP, then the fast tree ----------------------
reg [31:0] fm_abs [0:@V@-1];
reg signed [15:0] fm_top [0:@V@-1];
reg fm_any [0:@V@-1];
reg signed [33:0] fm_boff [0:@V@-1];
reg fm_has [0:@V@-1];
wire norm_first_pass = p_valid[2] && (p_op[2] == OP_NORM || p_op[2] == OP_NORMG) && !p_pass2[2];
reg f0_fire;
reg f0_normg;
reg [4:0] f0_bits;
reg signed [63:0] f0_ein;
integer nl;
always @(posedge clock) begin
    f0_fire <= norm_first_pass && p_last[2];
    f0_normg <= (p_op[2] == OP_NORMG);
    f0_bits <= p_bits[2];
    f0_ein <= p_ra[2];
    if (norm_first_pass) begin
        for (nl = 0; nl < @V@; nl = nl + 1) begin : lanes_max
            reg [31:0] ab;
            reg signed [15:0] top;
            reg signed [33:0] boff;
            reg on;
            ab = op_abs_w[nl*32 +: 32];
            boff = {{2{op_boff_w[nl*32+31]}}, op_boff_w[nl*32 +: 32]};
            top = $signed({10'd0, bit_length32(ab)}) + boff[15:0];
            on = p_mask[2][nl];
            if (p_first[2]) begin
                fm_abs[nl] <= on ? ab : 32'd0;
                fm_any[nl] <= on && ab != 32'd0;
                fm_top[nl] <= top;
                fm_has[nl] <= on;
                fm_boff[nl] <= boff;
            end else if (on) begin
                if (ab > fm_abs[nl]) fm_abs[nl] <= ab;
                if (ab != 32'd0 && (!fm_any[nl] || top > fm_top[nl])) fm_top[nl] <= top;
                if (ab != 32'd0) fm_any[nl] <= 1'b1;
                if (!fm_has[nl] || boff > fm_boff[nl]) fm_boff[nl] <= boff;
                fm_has[nl] <= 1'b1;
            end
        end
    end
end
// A node of the fast tree: {has, boff, any, top, abs}.
function [83:0] norm_combine(input [83:0] x, input [83:0] y);
    reg [31:0] xa, ya;
    reg signed [15:0] xt, yt;
    reg xn, yn, xh, yh;
    reg signed [33:0] xb, yb;
    begin
        {xh, xb, xn, xt, xa} = x;
        {yh, yb, yn, yt, ya} = y;
        norm_combine[31:0] = (ya > xa) ? ya : xa;
        norm_combine[47:32] = (!yn || (xn && xt >= yt)) ? xt : yt;
        norm_combine[48] = xn | yn;
        norm_combine[82:49] = (!yh || (xh && xb >= yb)) ? xb : yb;
        norm_combine[83] = xh | yh;
    end
endfunction
@NORM_TREE@
// The final node gives the shift (norm) or the exponent (normg); eout is written now.
wire [31:0] fn_abs = fn_node[31:0];
wire signed [15:0] fn_top = fn_node[47:32];
wire fn_any = fn_node[48];
wire signed [33:0] fn_boff = fn_node[82:49];
wire fn_has = fn_node[83];
wire [5:0] fn_length = bit_length32(fn_abs);
wire signed [7:0] fn_shift = (fn_abs == 32'd0) ? 8'sd0
    : $signed({2'b0, fn_length}) - $signed({3'b0, fn_bits}) + 8'sd1;
wire signed [63:0] fn_exp = fn_normg
    ? (fn_any ? $signed({{48{fn_top[15]}}, fn_top}) - $signed({59'd0, fn_bits}) + 64'sd1
              : (fn_has ? $signed({{30{fn_boff[33]}}, fn_boff}) : 64'sd0))
    : fn_ein + $signed({{56{fn_shift[7]}}, fn_shift});
always @(posedge clock) begin
    if (fn_fire) begin
        norm_shift <= fn_shift;
        norm_exp <= fn_exp;
    end
end
// Exponent results (norm, normg, addalign) leave with the instruction's last slot at E4, on
// port 1: last slots are one a cycle at most, so these writes never meet.
reg signed [63:0] p_exp [3:6];
reg [5:0] p_rd1_late [3:6];
wire signed [63:0] align_exp = (p_a_big[2] ? ea : eb) - 64'sd15;
integer xs;
always @(posedge clock) begin
    p_exp[3] <= (p_op[2] == OP_ADDALIGN) ? align_exp : norm_exp;
    p_rd1_late[3] <= p_rd1[2];
    for (xs = 4; xs <= 6; xs = xs + 1) begin
        p_exp[xs] <= p_exp[xs-1];
        p_rd1_late[xs] <= p_rd1_late[xs-1];
    end
end
always @(*) begin
    vxu_we1 = p_valid[6] && p_last[6]
        && (((p_op[6] == OP_NORM || p_op[6] == OP_NORMG) && p_pass2[6]) || p_op[6] == OP_ADDALIGN);
    vxu_wa1 = p_rd1_late[6];
    vxu_wd1 = p_exp[6];
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
always @(posedge clock) begin
    sc_lo0 <= sc_step0[15:0] * pos;
    sc_hi0 <= sc_step0[31:16] * pos;
    sc_lo1 <= sc_step1[15:0] * pos;
    sc_hi1 <= sc_step1[31:16] * pos;
    sc_odd0_e1 <= sc_odd0;
end
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
reg [15:0] sincos_value0, sincos_value1;
always @(posedge clock) begin
    sincos_value0 <= sc_flags0[1] ? -sc_mag0 : sc_mag0;
    sincos_value1 <= sc_flags1[1] ? -sc_mag1 : sc_mag1;
end


// ---- cache stores: read, modify and write a matrix word -----------------------------------------------
// kvstore reads element d at cycle 2d and matrix word d at 2d + 1, and writes the word at
// 2d + 2 with lane `pos % lanes` replaced; kvexp reads at 1 and writes at 2.
reg [19:0] kv_base;
reg [7:0] kv_exp_value;
always @(posedge clock) begin
    if (issue_vxu) begin
        kv_base <= d_mm + ((d_kind == F_KVSTORE) ? ({4'd0, pos >> @LOG_L@} * issue_len[15:0])
                                                 : {4'd0, pos >> @LOG_L@});
        kv_exp_value <= ($signed(issue_ra) > 64'sd127) ? 8'd127
                      : ($signed(issue_ra) < -64'sd128) ? 8'h80 : issue_ra[7:0];
    end
end
wire kv_read = active && ((kind == F_KVSTORE && cnt[0]) || (kind == F_KVEXP && cnt == 32'd1));
wire [19:0] kv_read_addr = kv_base + {1'b0, cnt[19:1]};
reg kv_write;
reg [19:0] kv_write_addr;
reg kv_from_exp;
always @(posedge clock) begin
    kv_write <= kv_read;
    kv_write_addr <= kv_read_addr;
    kv_from_exp <= (kind == F_KVEXP);
end
// The element read two cycles before the write is at OP now; its lane in the word:
reg [@LOG_V@-1:0] kv_lane_q [1:2];
always @(posedge clock) begin
    kv_lane_q[1] <= kv_element[@LOG_V@-1:0];
    kv_lane_q[2] <= kv_lane_q[1];
end
wire [7:0] kv_value = kv_from_exp ? kv_exp_value : op_a_w[kv_lane_q[2]*32 +: 8];
wire [@LOG_L@-1:0] kv_lane = pos[@LOG_L@-1:0];
reg [@L@*8-1:0] kv_merged;
always @(*) begin
    kv_merged = mm_b_rdata_w;
    kv_merged[kv_lane*8 +: 8] = kv_value;
    mm_b_we = kv_write;
    mm_b_addr = kv_write ? kv_write_addr : kv_read_addr;
end

