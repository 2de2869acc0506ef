
// The board top of @BOARD@: the UART (8N1, @BAUD@ baud, @BIT_CYCLES@ core cycles a bit) bridged
// to the core's host port, the core clock, a power-on reset@RESET_BUTTON_SUMMARY@ and the status LEDs.
module top(@CLOCK@,uart_rx,uart_tx,led@EXTRA_PORTS@);

    input wire  @CLOCK@;
    input wire  uart_rx;
    output wire  uart_tx;
    output wire  [@LED_HIGH@:0] led;
@EXTRA_DECLARATIONS@
    // The core clock, and whether it is stable.
    wire core_clock;
    wire clock_locked;
@CLOCKING@
    // Power-on reset: held until the clock is locked (synchronised), then 16 cycles more.
@RESET_BUTTON@    reg [1:0] locked_sync;
    reg [4:0] reset_count;
    wire reset = ~reset_count[4];
    always @(posedge core_clock) begin
        locked_sync <= {locked_sync[0], clock_locked};
        if (!locked_sync[1] || button_pressed)
            reset_count <= 5'd0;
        else if (reset)
            reset_count <= reset_count + 5'd1;
    end

    // UART receiver: the line synchronised, the start bit confirmed at its middle, each bit
    // sampled at its middle. A byte waits in `rx_data` until the host port takes it; one that
    // arrives before replaces it (the waiting byte is lost) and lights the error LED (the
    // protocol is request and reply, so a host that waits for each reply never overruns).
    localparam [@COUNT_HIGH@:0] BIT_WAIT = @COUNT_BITS@'d@BIT_WAIT@;            // a bit, less one
    localparam [@COUNT_HIGH@:0] HALF_BIT_WAIT = @COUNT_BITS@'d@HALF_BIT_WAIT@;       // half a bit, less one
    reg [1:0] rx_sync;
    reg rx_busy;
    reg [3:0] rx_bit;                 // 0 the start bit, 1..8 the data, 9 the stop bit
    reg [@COUNT_HIGH@:0] rx_wait;
    reg [7:0] rx_shift;
    reg rx_valid;
    reg [7:0] rx_data;
    reg rx_error;                     // a framing error or an overrun, until reset
    wire rx_line = rx_sync[1];
    always @(posedge core_clock) begin
        rx_sync <= {rx_sync[0], uart_rx};
        if (reset) begin
            rx_busy <= 1'b0;
            rx_bit <= 4'd0;
            rx_wait <= HALF_BIT_WAIT;
            rx_shift <= 8'd0;
            rx_valid <= 1'b0;
            rx_data <= 8'd0;
            rx_error <= 1'b0;
        end else begin
            if (rx_valid && host_in_ready)
                rx_valid <= 1'b0;
            if (!rx_busy) begin
                if (!rx_line) begin
                    rx_busy <= 1'b1;
                    rx_bit <= 4'd0;
                    rx_wait <= HALF_BIT_WAIT;
                end
            end else if (rx_wait != 0) begin
                rx_wait <= rx_wait - 1'b1;
            end else begin
                rx_wait <= BIT_WAIT;
                rx_bit <= rx_bit + 4'd1;
                if (rx_bit == 4'd0) begin
                    if (rx_line)
                        rx_busy <= 1'b0;       // a glitch, not a start bit
                end else if (rx_bit == 4'd9) begin
                    rx_busy <= 1'b0;
                    if (!rx_line)
                        rx_error <= 1'b1;      // no stop bit
                    else begin
                        if (rx_valid && !host_in_ready)
                            rx_error <= 1'b1;  // the previous byte was not taken yet
                        rx_valid <= 1'b1;
                        rx_data <= rx_shift;
                    end
                end else begin
                    rx_shift <= {rx_line, rx_shift[7:1]};
                end
            end
        end
    end

    // UART transmitter: takes a byte from the host port when idle; start bit, 8 data bits
    // (least significant first), stop bit.
    reg [9:0] tx_shift;
    reg [3:0] tx_left;
    reg [@COUNT_HIGH@:0] tx_wait;
    wire tx_idle = tx_left == 4'd0;
    assign uart_tx = tx_shift[0];
    always @(posedge core_clock) begin
        if (reset) begin
            tx_shift <= 10'h3ff;
            tx_left <= 4'd0;
            tx_wait <= BIT_WAIT;
        end else if (tx_idle) begin
            if (host_out_valid) begin
                tx_shift <= {1'b1, host_out_data, 1'b0};
                tx_left <= 4'd10;
                tx_wait <= BIT_WAIT;
            end
        end else if (tx_wait != 0) begin
            tx_wait <= tx_wait - 1'b1;
        end else begin
            tx_shift <= {1'b1, tx_shift[9:1]};
            tx_left <= tx_left - 4'd1;
            tx_wait <= BIT_WAIT;
        end
    end

    // The core, with its debug and trace ports unused.
    wire host_in_ready;
    wire host_out_valid;
    wire [7:0] host_out_data;
    wire busy;
    /* verilator lint_off PINCONNECTEMPTY */
    core core (
        .clock(core_clock),
        .reset(reset),
        .host_in_valid(rx_valid),
        .host_in_data(rx_data),
        .host_in_ready(host_in_ready),
        .host_out_valid(host_out_valid),
        .host_out_data(host_out_data),
        .host_out_ready(tx_idle),
        .busy(busy),
        .dbg_reg(6'd0),
        .dbg_reg_data(),
        .dbg_vaddr(16'd0),
        .dbg_vdata(),
        .dbg_maddr(20'd0),
        .dbg_mlane(8'd0),
        .dbg_mdata(),
        .trace_issue(),
        .trace_index(),
        .trace_start(),
        .trace_complete(),
        .now()
    );
    /* verilator lint_on PINCONNECTEMPTY */

    // Status LEDs, as many as the board has: led[0] the error (an overrun or framing error),
    // led[1] a heartbeat (the clock runs: about @HEARTBEAT_HZ@ Hz), led[2] activity (a byte or a
    // token step, stretched to about @ACTIVITY_MS@ ms), the others off.
    reg [@BEAT_HIGH@:0] beat;
    reg [@ACTIVITY_HIGH@:0] activity;
    always @(posedge core_clock) begin
        beat <= beat + 1'b1;
        if (reset)
            activity <= 0;
        else if (busy || rx_busy || !tx_idle)
            activity <= {@ACTIVITY_BITS@{1'b1}};
        else if (activity != 0)
            activity <= activity - 1'b1;
    end
    wire [@STATUS_HIGH@:0] status = @STATUS@;
    assign led = @LED_VALUE@;

    initial begin  // the power-on values (the FPGA's configuration sets them)
        locked_sync = 2'b00;
        reset_count = 5'd0;
        rx_sync = 2'b11;
        tx_shift = 10'h3ff;  // the line idles high from configuration on, not from reset
        beat = 0;
        activity = 0;
    end

endmodule
