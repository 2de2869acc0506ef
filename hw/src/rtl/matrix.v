// The matrix unit: @L@ int8 x int8 lanes streaming one matrix-memory word per cycle.
//
// The issued instruction arrives registered (cycle k) and is decoded into the front end's
// registers, the first read's matrix-memory address among them. Cycle k + 1 + i reads stream
// word i:
//   matvec: block b, column j (b = i / cols_e, j = i % cols_e; columns past `cols` idle);
//   mload:  word i / D at the last cycle of each D-cycle slot;
//   dotv:   the first D cycles load x block 0, then block b, column j as matvec, while the next
//           x block loads in the block's first D cycles.
// Results leave through one output stage: the result block of a *trigger* read (matvec and
// mload: the slot's last cycle; dotv: a column of the last row block) is in the drain register
// 5 cycles after that read, and drains D = @L@ / @V@ words, one a cycle, into the accumulator
// memory, written from 7 cycles after the read (dotv writes its columns one element a cycle
// instead, 7 cycles after their reads).

@OPCODES@
@PACK@
localparam [15:0] INPUT_BASE_WORD = 16'd@INPUT_BASE_WORD@;
localparam [15:0] ACC_BASE_WORD = 16'd@ACC_BASE_WORD@;

// ---- decode of the issued instruction ---------------------------------------------------------
wire [7:0] d_op = issue_instr[7:0];
reg [15:0] d_dst, d_x, d_cols;
reg [19:0] d_w;
always @(*) begin
    d_dst = 16'd0;
    d_x = 16'd0;
    d_cols = 16'd0;
    d_w = 20'd0;
    case (d_op)
@DECODE@
        default: ;
    endcase
end
wire d_dotv = (d_op == OP_DOTV);
wire [15:0] d_cols_e = (d_op == OP_MLOAD || d_cols < 16'd@DRAIN@) ? 16'd@DRAIN@ : d_cols;
wire [18:0] d_rows_up = {1'b0, issue_len} + 19'd@L_MINUS_1@;
wire [18:0] d_blocks_w = d_rows_up >> @LOG_L@;
wire unused_blocks = d_blocks_w[18];
wire [17:0] d_blocks = (issue_len == 18'd0) ? 18'd1 : d_blocks_w[17:0];

// The instruction's other fields, and a `wreg` offset past 20 bits, are not the matrix unit's
// (addresses are 20 bits).
wire unused_bus = &{1'b0, issue_instr, issue_ra[63:20]};

// ---- front end --------------------------------------------------------------------------------
// Loaded at issue with the first read's state, it then makes one read a cycle from its registers
// alone: no decode or address arithmetic of the issue bus reaches the matrix memory's block RAMs
// in the cycle it is made (on the 85F's 145 matrix block RAMs that path, about 10 ns of it wire,
// set the clock of the 64-lane core). `fe_addr` is the read's word: the address register itself.
reg fe_on;
reg [7:0] op;
reg [15:0] cols, cols_e;
reg [17:0] blocks;
reg [17:0] rows;
reg [15:0] x;
reg [15:0] j;
reg [17:0] b;
reg [19:0] base;
reg [19:0] fe_addr;
reg [15:0] xblock;
reg [15:0] load;
// dotv first loads x block 0 for D cycles.
reg loading;
wire on = fe_on;
wire streaming = on && !loading;
wire block_end = streaming && (j + 16'd1 == cols_e);
wire last_block = (b + 18'd1 == blocks);
// The next block's first word: matvec and dotv step a block's columns, mload a word.
wire [19:0] next_base = base + ((op == OP_MLOAD) ? 20'd1 : {4'd0, cols});
always @(posedge clock) begin
    if (issue_mxu) begin
        op <= d_op;
        cols <= d_cols;
        cols_e <= d_cols_e;
        blocks <= d_blocks;
        rows <= issue_len;
        x <= d_x;
        fe_on <= 1'b1;
        loading <= d_dotv;
        load <= 16'd0;
        j <= 16'd0;
        b <= 18'd0;
        base <= d_w + issue_ra[19:0];
        fe_addr <= d_w + issue_ra[19:0];
        xblock <= d_x >> @LOG_V@;
    end else if (!on) begin
        fe_on <= 1'b0;
    end else if (loading) begin
        loading <= (load != 16'd@DRAIN_MINUS_1@);
        load <= load + 16'd1;
    end else if (block_end) begin
        j <= 16'd0;
        b <= b + 18'd1;
        base <= next_base;
        fe_addr <= next_base;
        xblock <= xblock + 16'd@DRAIN@;
        fe_on <= !last_block;
    end else begin
        j <= j + 16'd1;
        // mload reads its word for the whole slot.
        if (op != OP_MLOAD) fe_addr <= fe_addr + 20'd1;
    end
    if (flush) fe_on <= 1'b0;
end
wire stream_col = streaming && (j < cols);
// matvec and mload results leave when their slot ends: a block's last column, an mload word.
wire slot_end = block_end;

// Matrix-memory reads: matvec and dotv every streamed column, `base + j`; mload each slot (its
// last cycle counts), `base`.
always @(*) mm_a_addr = fe_addr;

// Input-memory reads: matvec's x element of the column, or dotv's next x block.
wire [15:0] x_element = x + j;
wire x_block_read = on && (op == OP_DOTV) && (loading || (j < 16'd@DRAIN@ && !last_block));
wire [15:0] x_block_part = loading ? load : j;
wire [15:0] x_block_word = (loading ? xblock : xblock + 16'd@DRAIN@) + x_block_part;
always @(*) input_raddr = ((op == OP_DOTV) ? x_block_word : (x_element >> @LOG_V@)) - INPUT_BASE_WORD;

// ---- the stream's control, delayed to each stage --------------------------------------------------
// Stage index = cycles after the read: 1, 2 (matrix data), 3 (products), 4 (accumulators)...
reg q_col [1:7];
reg q_first_col [1:7];
reg q_trigger [1:7];
reg q_dotv_out [1:7];
reg q_last_block [1:7];
// The operation as one-bit flags, to the stages that use them: a register drives the lanes'
// x select straight (an 8-bit compare there was the 16-lane cores' critical path on ECP5).
reg q_dotv [1:5];
reg q_mload [1:3];
reg q_matvec [1:3];
// The read's column, block, rows and destination at stage 1; from stage 2 on, only what the later
// stages take of them, worked out once (fewer flip-flops down the stages).
reg [15:0] q_j1;
reg [17:0] q_b1;
reg [17:0] q_rows1;
reg [15:0] q_dst1;
reg [@PJB@-1:0] q_column [2:5];    // dotv's column of partial sums
reg q_first_block [2:5];           // the first row block (no partial sum before it)
reg [15:0] q_block_word [2:4];     // the accumulator word of the block's first results
reg [17:0] q_rows_left [2:4];      // rows from the block's first on
reg [15:0] q_element [2:7];        // dotv: the column's element, dst + j
reg [@LOG_V@-1:0] q_x_lane;
// The x block's lanes past `rows` (the last block's) load as zeros.
reg [@V@*8-1:0] q_load_mask;
wire [17:0] x_block_first = ((loading ? b : b + 18'd1) << @LOG_L@) + ({2'd0, x_block_part} << @LOG_V@);
integer xm;
always @(posedge clock)
    for (xm = 0; xm < @V@; xm = xm + 1)
        q_load_mask[xm*8 +: 8] <= (x_block_first + {10'd0, xm[7:0]} < rows) ? 8'hff : 8'h00;
reg q_load [1:2];
reg [15:0] q_load_part [1:2];
integer qs;
always @(posedge clock) begin
    q_col[1] <= stream_col && op != OP_MLOAD;
    q_first_col[1] <= (j == 16'd0);
    q_trigger[1] <= (op == OP_DOTV) ? 1'b0 : slot_end;
    q_dotv_out[1] <= stream_col && op == OP_DOTV && last_block;
    q_last_block[1] <= last_block;
    q_dotv[1] <= (op == OP_DOTV);
    q_mload[1] <= (op == OP_MLOAD);
    q_matvec[1] <= (op == OP_MATVEC);
    q_j1 <= j;
    q_b1 <= b;
    q_rows1 <= rows;
    q_dst1 <= dst_q;
    q_column[2] <= q_j1[@PJB@-1:0];
    q_first_block[2] <= (q_b1 == 18'd0);
    q_block_word[2] <= (q_dst1 >> @LOG_V@) + (q_b1[15:0] << @LOG_DRAIN@) - ACC_BASE_WORD;
    q_rows_left[2] <= q_rows1 - (q_b1 << @LOG_L@);
    q_element[2] <= q_dst1 + q_j1;
    for (qs = 3; qs <= 5; qs = qs + 1) begin
        q_column[qs] <= q_column[qs-1];
        q_first_block[qs] <= q_first_block[qs-1];
    end
    for (qs = 3; qs <= 4; qs = qs + 1) begin
        q_block_word[qs] <= q_block_word[qs-1];
        q_rows_left[qs] <= q_rows_left[qs-1];
    end
    for (qs = 3; qs <= 7; qs = qs + 1) q_element[qs] <= q_element[qs-1];
    q_x_lane <= x_element[@LOG_V@-1:0];
    q_load[1] <= x_block_read;
    q_load_part[1] <= x_block_part;
    for (qs = 2; qs <= 7; qs = qs + 1) begin
        q_col[qs] <= q_col[qs-1];
        q_first_col[qs] <= q_first_col[qs-1];
        q_trigger[qs] <= q_trigger[qs-1];
        q_dotv_out[qs] <= q_dotv_out[qs-1];
        q_last_block[qs] <= q_last_block[qs-1];
    end
    for (qs = 2; qs <= 5; qs = qs + 1) q_dotv[qs] <= q_dotv[qs-1];
    for (qs = 2; qs <= 3; qs = qs + 1) begin
        q_mload[qs] <= q_mload[qs-1];
        q_matvec[qs] <= q_matvec[qs-1];
    end
    q_load[2] <= q_load[1];
    q_load_part[2] <= q_load_part[1];
end

// ---- x: the broadcast element (matvec) or the lane registers (dotv) -----------------------------
// Input data is valid a cycle after the read; its element is selected then and registered to
// meet the matrix data (the register drives the lanes' x select straight).
reg signed [7:0] x_broadcast;
always @(posedge clock) x_broadcast <= input_rdata_w[q_x_lane*8 +: 8];
reg [@L@*8-1:0] x_next, x_lanes;
always @(posedge clock) begin
    if (q_load[1]) x_next[q_load_part[1]*@V@*8 +: @V@*8] <= input_rdata_w & q_load_mask;
    // Swap in the next x block as the block's first column reaches the multipliers.
    if (q_dotv[1] && q_col[1] && q_first_col[1]) x_lanes <= x_next;
end

// ---- lanes: products, accumulators ---------------------------------------------------------------
// Each lane's product and accumulator is a register of its own (the simulator then updates
// only the lanes that change, instead of copying the whole word for every lane's write).
wire [@L@*16-1:0] products;
wire [@L@*32-1:0] acc;
genvar l;
generate
for (l = 0; l < @L@; l = l + 1) begin : lane
    wire signed [7:0] w = mm_a_data_w[l*8 +: 8];
    // mload passes its word through the multipliers (times one) and the accumulators.
    wire signed [7:0] xv = q_dotv[2] ? x_lanes[l*8 +: 8] : q_mload[2] ? 8'sd1 : x_broadcast;
    wire signed [15:0] p = w * xv;
    // The product loads only with a column or an mload word (its enable; idle, it holds, and
    // the simulator skips the multiplication).
    reg signed [15:0] product;
`ifdef VERILATOR
    // Co-simulation tests: +monorail_fault_lane=N flips the low bit of lane N's products.
    reg fault;
    initial begin : fault_of_lane
        integer n;
        fault = $value$plusargs("monorail_fault_lane=%d", n) && n == l;
    end
@LANE_PRODUCT_FAULTY@`else
@LANE_PRODUCT@`endif
    assign products[l*16 +: 16] = product;
    // One adder: a matvec column adds to the sum (to zero at a block's first column), an mload
    // word to zero (a multiplexer after the adder took a LUT a bit).
    reg signed [31:0] sum;
    always @(posedge clock)
        if ((q_col[3] && q_matvec[3]) || (q_trigger[3] && q_mload[3]))
            sum <= ((q_first_col[3] || q_mload[3]) ? 32'sd0 : sum) + {{16{product[15]}}, product};
    assign acc[l*32 +: 32] = sum;
end
endgenerate

// ---- dotv's adder tree (two levels) and partial sums -------------------------------------------------
@TREE@
@PARTIAL_STYLE@reg signed [31:0] partial [0:@PARTIALS@-1];
reg partial_last_written;
reg [@PJB@-1:0] partial_last_j;
reg signed [31:0] partial_last_value;
wire [@PJB@-1:0] column = q_column[5];
wire signed [31:0] earlier = q_first_block[5] ? 32'sd0
    : (partial_last_written && partial_last_j == column) ? partial_last_value : partial[column];
wire signed [31:0] column_total = earlier + {{@SUM_PAD@{tree_sum[@SUM_BITS@-1]}}, tree_sum};
reg signed [31:0] dotv_out [6:7];
always @(posedge clock) begin
    partial_last_written <= 1'b0;
    if (q_col[5] && q_dotv[5] && !q_last_block[5]) begin
        partial[column] <= column_total;
        partial_last_written <= 1'b1;
        partial_last_j <= column;
        partial_last_value <= column_total;
    end
    dotv_out[6] <= column_total;
    dotv_out[7] <= dotv_out[6];
end

// ---- the output stage: the drain, then two registers of a word ---------------------------------------
// matvec and mload results are in the drain 5 cycles after the trigger read; its words leave one
// a cycle from then on, through two registers a word wide, and are written from 7 on. (The two
// registers were the whole block's, before the drain: D times the flip-flops, which a Gowin or
// iCE40 slice cannot share with a LUT.)
reg [@L@*32-1:0] drain;
reg [15:0] dst_q;
always @(posedge clock) if (issue_mxu) dst_q <= d_dst;
// The drain register holds a block while its words leave: the word of step s by index, or
// (where a flip-flop takes a LUT of its own anyway) shifted down a word a step.
wire [@V@*32-1:0] drain_data = @DRAIN_DATA@;
reg drain_on;
reg [15:0] drain_word;
reg [17:0] drain_left;
reg [15:0] drain_step;
always @(posedge clock) begin
    // The drain loads only with a block (its enable; the rest of the time it holds, which also
    // spares the simulator a copy of the block a cycle).
    if (q_trigger[4]) begin
        drain <= acc;
        drain_on <= 1'b1;
        drain_word <= q_block_word[4];
        drain_left <= q_rows_left[4];
        drain_step <= 16'd0;
    end else if (drain_on) begin@DRAIN_SHIFT@
        drain_word <= drain_word + 16'd1;
        drain_left <= (drain_left > 18'd@V@) ? drain_left - 18'd@V@ : 18'd0;
        drain_step <= drain_step + 16'd1;
        if (drain_step == 16'd@DRAIN_MINUS_1@) drain_on <= 1'b0;
    end
end
// The word leaving and its lanes' write enables, two cycles on.
reg [@V@*32-1:0] word1, word2;
reg [@V@-1:0] word1_we, word2_we;
reg [15:0] word1_addr, word2_addr;
integer wl;
always @(posedge clock) begin
    word1 <= drain_data;
    for (wl = 0; wl < @V@; wl = wl + 1)
        word1_we[wl] <= drain_on && ({10'd0, wl[7:0]} < drain_left);
    word1_addr <= drain_word;
    word2 <= word1;
    word2_we <= word1_we;
    word2_addr <= word1_addr;
end
// dotv's column j goes to element dst + j, 7 cycles after its read.
wire [15:0] dotv_element = q_element[7];
reg [@V@-1:0] acc_we_w;
reg [@V@*32-1:0] acc_wdata_w;
integer al;
always @(*) begin
    acc_waddr = q_dotv_out[7] ? (dotv_element >> @LOG_V@) - ACC_BASE_WORD : word2_addr;
    for (al = 0; al < @V@; al = al + 1) begin
        acc_wdata_w[al*32 +: 32] = q_dotv_out[7] ? dotv_out[7] : word2[al*32 +: 32];
        acc_we_w[al] = q_dotv_out[7] ? (dotv_element[@LOG_V@-1:0] == al[@LOG_V@-1:0])
                     : word2_we[al];
    end
end
@UNPACK@
