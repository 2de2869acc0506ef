// The small core behind the host port (hw/src/small_top.rs). A program word is @ELEMENTS@
// elements of the vector memory from @PROGRAM_BASE@ (after the vector space): a write takes a
// cycle an element, a read a cycle more for the last element's data, and `mem_ready` holds the
// port's access until then. The first elements read wait in the core's instruction register,
// free while the core is idle (`host_capture`).
wire program_access = mem_active && mem_program;
reg [@ELEMENT_BITS@:0] element;
wire [95:0] held_elements;
wire [31:0] vector_rdata;
wire [@MATRIX_TOP@:0] matrix_rdata;
wire [47:0] reg_rdata;
wire [47:0] dbg_register;
wire [@MEM_ADDR_TOP@:0] core_addr = program_access
    ? @MEM_ADDR_BITS@'d@PROGRAM_BASE@ + @PROGRAM_ADDR@ : @MEM_ADDR@;
always @(posedge clock) element <= program_access ? element + 1'b1 : {(@ELEMENT_BITS@+1){1'b0}};
// Element k's data is there the cycle after its address: the first ones are held in the core.
wire capture = program_access && element != {(@ELEMENT_BITS@+1){1'b0}}
    && element[@ELEMENT_BITS@] == 1'b0;
wire [@ELEMENT_TOP@:0] captured = element[@ELEMENT_TOP@:0] - @ELEMENT_BITS@'d1;
assign mem_ready = !program_access
    || (mem_we ? element == @ELEMENT_WIDTH@'d@LAST_ELEMENT@ : element[@ELEMENT_BITS@]);
assign read_element = vector_rdata;
assign read_instruction = {vector_rdata, held_elements};
@READ_BYTES@
assign dbg_reg_data = {{16{dbg_register[47]}}, dbg_register};
wire unused_adapter = &{1'b0, @UNUSED@};
@CORE@ core(
    .clock(clock),
    .reset(reset),
    .start(start),
    .start_one(1'b0),
    .start_pos(start_pos),
    .start_token(start_token),
    .busy(busy),
    .done(done),
    .aborted(aborted),
    .out_token(out_token),
    .out_cycles(out_cycles),
    .mem_addr(core_addr),
    .vector_write(mem_active && mem_we && (mem_vector || mem_program)),
    .matrix_write(mem_active && mem_we && mem_matrix),
    .vector_wdata(program_access ? mem_word[element[@ELEMENT_TOP@:0] * 32 +: 32] : mem_element),
    .matrix_wdata({@MATRIX_BYTES@}),
    .vector_rdata(vector_rdata),
    .matrix_rdata(matrix_rdata),
    .host_capture(capture),
    .host_element(captured),
    .held_elements(held_elements),
    .reg_addr(7'd0),
    .reg_write(1'b0),
    .reg_wdata(48'd0),
    .reg_rdata(reg_rdata),
    .trace_issue(trace_issue),
    .trace_index(trace_index),
    .trace_start(trace_start),
    .trace_complete(trace_complete),
    .now(now),
    .dbg_reg(dbg_reg),
    .dbg_reg_data(dbg_register),
    .dbg_vaddr(@DBG_VADDR@),
    .dbg_vdata(dbg_vdata),
    .dbg_maddr(@DBG_MADDR@),
    .dbg_mlane(@DBG_MLANE@),
    .dbg_mdata(dbg_mdata)
);
