// The scalar unit: register arithmetic in the registers' @REGISTER_BITS@ bits (results sign-extended to the
// 64-bit write ports) and the reciprocal (square root) tables. The issued instruction arrives
// registered (the cycle after issue, stage 1). Arithmetic and `muli` register their result at
// stage 2 and write it at its end (latency 3); `rsqrt` and `recip` take one more stage and hold
// the unit a cycle more, so writes never collide. Write port 0 carries `dst` (or the mantissa),
// port 1 the exponent of `rsqrt` and `recip`. One adder serves `addi`, `add`, `sub` and `max`
// (its comparison is the subtraction), and one right shifter at stage 2 serves `shri` and the
// tables' index (the bits below the leading one).

@OPCODES@

// The bit length (verilog::bit_length).
@BIT_LENGTH64@

// rsqrt's table (entries 0..255), then recip's (256..511).
@TABLES@

wire [7:0] opcode = issue_instr[7:0];
reg [5:0] dst, exp_dst;
reg [63:0] imm;
reg [63:0] simple;
reg is_simple, is_muli, is_rsqrt, is_recip;
always @(*) begin
    dst = 6'd0;
    exp_dst = 6'd0;
    imm = 64'd0;
    is_simple = 1'b0;
    is_muli = 1'b0;
    is_rsqrt = 1'b0;
    is_recip = 1'b0;
    case (opcode)
@DECODE@
        default: ;
    endcase
end

// The adder: ra + b, or ra - b (ra + ~b + 1) for sub and max, whose b is rb (the others' is imm).
wire takes_rb = (opcode == OP_ADD) || (opcode == OP_SUB) || (opcode == OP_MAX);
wire subtracting = (opcode == OP_SUB) || (opcode == OP_MAX);
// Operands and results are registers' @REGISTER_BITS@ bits (a wider result is a fault); their top @BUS_PAD@ bits on
// the buses are copies of bit @REGISTER_TOP@.
wire [@REGISTER_TOP@:0] ra = issue_ra[@REGISTER_TOP@:0], rb = issue_rb[@REGISTER_TOP@:0];
wire [@REGISTER_TOP@:0] adder_b = takes_rb ? rb : imm[@REGISTER_TOP@:0];
wire [@REGISTER_TOP@:0] sum = ra + (subtracting ? ~adder_b : adder_b) + {@REGISTER_TOP@'d0, subtracting};
// ra < rb (signed): the difference's sign, unless the subtraction overflowed. max takes rb then,
// ra otherwise (equal operands give the same value either way).
wire ra_less = sum[@REGISTER_TOP@] ^ ((ra[@REGISTER_TOP@] != rb[@REGISTER_TOP@]) && (sum[@REGISTER_TOP@] != ra[@REGISTER_TOP@]));
always @(*) begin
    case (opcode)
        OP_LI: simple = imm;
        OP_ADDI, OP_ADD, OP_SUB: simple = {{@BUS_PAD@{sum[@REGISTER_TOP@]}}, sum};
        OP_MAX: simple = ra_less ? issue_rb : issue_ra;
        OP_ANDI: simple = issue_ra & imm;
        // shri: the shifter at stage 2.
        default: simple = 64'd0;
    endcase
end

// Arithmetic and muli: the result at stage 2, written at its end. rsqrt and recip: the leading
// one at stage 2, the table index (the bits below it) at stage 3, the entry written at its end.
reg s2_simple, s2_shri, s2_muli, s2_rsqrt, s2_recip;
reg [63:0] s2_simple_value;
reg [5:0] s2_shift;
reg [5:0] s2_dst, s2_exp_dst;
reg signed [35:0] s2_product;
reg [@REGISTER_TOP@:0] s2_x;
reg [6:0] s2_length;
// The operands load only with an issue (their enable; the simulator then skips the work).
always @(posedge clock) begin
    s2_simple <= issue_sxu && is_simple;
    s2_shri <= issue_sxu && (opcode == OP_SHRI);
    s2_muli <= issue_sxu && is_muli;
    s2_rsqrt <= issue_sxu && is_rsqrt;
    s2_recip <= issue_sxu && is_recip;
    if (issue_sxu) begin
        s2_simple_value <= simple;
        s2_shift <= imm[5:0];
        s2_dst <= dst;
        s2_exp_dst <= exp_dst;
        s2_x <= ra;
        s2_length <= bit_length64({@BUS_PAD@'d0, ra});  // (rsqrt's, recip's: a negative ra is a fault)
    end
end
@MULI_PRODUCT@wire [6:0] s2_lead = s2_length - 7'd1;
// The shifter: x with @RECIP_INDEX_BITS@ zeros below it, shifted right (arithmetically) by shri's
// amount or by the leading one's position. shri's result is its top @REGISTER_BITS@ bits; the bottom
// @RECIP_INDEX_BITS@ are the `width` bits just below the leading one, numerics' fraction_index,
// zeros past bit 0, for both tables (rsqrt's index is the top @RSQRT_INDEX_BITS@ of them). (x = 0
// has lead 127, shifts by 63 and gives 0; zero_operand ignores it.)
wire [5:0] shift_amount = s2_shri ? s2_shift : s2_lead[5:0];
wire [@REGISTER_TOP@+@RECIP_INDEX_BITS@:0] shifted = $signed({s2_x, @RECIP_INDEX_BITS@'d0}) >>> shift_amount;
wire [63:0] s2_shri_value = {{@BUS_PAD@{shifted[@REGISTER_TOP@+@RECIP_INDEX_BITS@]}}, shifted[@REGISTER_TOP@+@RECIP_INDEX_BITS@:@RECIP_INDEX_BITS@]};
wire [@RSQRT_INDEX_BITS@-1:0] rsqrt_fraction = shifted[@RECIP_INDEX_BITS@-1 -: @RSQRT_INDEX_BITS@];
wire [@RECIP_INDEX_BITS@-1:0] recip_fraction = shifted[@RECIP_INDEX_BITS@-1:0];
// The instruction's other fields are the sequencer's.
wire unused_bits = &{1'b0, issue_instr};
reg s3_rsqrt, s3_recip;
reg [5:0] s3_dst, s3_exp_dst;
reg [6:0] s3_lead;
reg [7:0] s3_index;
always @(posedge clock) begin
    s3_rsqrt <= s2_rsqrt;
    s3_recip <= s2_recip;
    s3_dst <= s2_dst;
    s3_exp_dst <= s2_exp_dst;
    s3_lead <= (s2_length == 7'd0) ? 7'd127 : s2_lead;
    // (No enable: the table's read address register is the block RAM's own.)
    s3_index <= s2_rsqrt ? {s2_lead[0], rsqrt_fraction} : recip_fraction;
end

// A zero operand (lead 127) gives a zero scale, as numerics::rsqrt and recip.
wire zero_operand = (s3_lead == 7'd127);
// rsqrt's exponent -15 - (k - odd) / 2 is -15 - floor(k / 2); recip's -15 - k.
wire [63:0] rsqrt_exp = -64'sd15 - $signed({58'd0, s3_lead[6:1]});
wire [63:0] recip_exp = -64'sd15 - $signed({57'd0, s3_lead});
// Register writes happen at the end of the cycle: stage 2 (arithmetic, muli) or stage 3
// (rsqrt, recip).
always @(*) begin
    sxu_we0 = 1'b0;
    sxu_wa0 = 6'd0;
    sxu_wd0 = 64'd0;
    sxu_we1 = 1'b0;
    sxu_wa1 = 6'd0;
    sxu_wd1 = 64'd0;
    if (s2_simple) begin
        sxu_we0 = 1'b1;
        sxu_wa0 = s2_dst;
        sxu_wd0 = s2_shri ? s2_shri_value : s2_simple_value;
    end else if (s2_muli) begin
        sxu_we0 = 1'b1;
        sxu_wa0 = s2_dst;
        sxu_wd0 = {{28{s2_product[35]}}, s2_product};
    end else if (s3_rsqrt || s3_recip) begin
        sxu_we0 = 1'b1;
        sxu_wa0 = s3_dst;
        sxu_we1 = 1'b1;
        sxu_wa1 = s3_exp_dst;
        if (!zero_operand) begin
            sxu_wd0 = {48'd0, tables[{s3_recip, s3_index}]};
            sxu_wd1 = s3_rsqrt ? rsqrt_exp : recip_exp;
        end
    end
end
