{{ header }}
# Timing constraints for repq_top on Xilinx UltraScale+, {{ d.clock_mhz_str() }} MHz (XDC).
# For out-of-context synthesis of the core (the `synth` target of repq_top.core runs exactly that:
# Vivado synthesis with -mode out_of_context, stopping before implementation); pin locations and
# I/O standards belong to the design that embeds the core. The
# stream and control ports are registered or driven from registers through shallow logic on the
# repq_top side; the I/O budgets give each side of a port half a cycle.
create_clock -name clk -period {{ d.period_ns() }} [get_ports clk]
set_input_delay -clock clk {{ half }} [get_ports -filter {DIRECTION == IN && NAME != clk}]
set_output_delay -clock clk {{ half }} [get_ports -filter {DIRECTION == OUT}]
