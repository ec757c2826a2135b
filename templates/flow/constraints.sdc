{{ header }}
# Timing constraints for repq_top, {{ d.clock_mhz_str() }} MHz (SDC; any SDC-driven flow: OpenSTA / OpenROAD,
# vendor tools). Only create_clock, set_input_delay, set_output_delay, get_ports and all_outputs
# are used, which every SDC reader has (no remove_from_collection: OpenSTA lacks it); the inputs
# other than clk are named.
# The core is meant to be embedded: its stream and control ports are registered or driven from
# registers through shallow logic on the repq_top side, so the I/O budgets below give each side
# of a port half a cycle. Adjust them to the surrounding design.
create_clock -name clk -period {{ d.period_ns() }} [get_ports clk]
set_input_delay -clock clk {{ half }} [get_ports { {{- inputs|join(" ") -}} }]
set_output_delay -clock clk {{ half }} [all_outputs]
