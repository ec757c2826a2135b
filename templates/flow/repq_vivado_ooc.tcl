{{ header }}
# Sourced by the project script of the `synth` target of repq_top.core (FuseSoC, Edalize's vivado
# backend with pnr: none): synthesis of repq_top out of context, as repq_top.xdc describes it (no
# I/O buffers, no pin placement; the core is to be embedded in a larger design). The target
# stops after synthesis and writes the netlist; implementation and a bitstream belong to the
# design that embeds the core.
set_property -name {STEPS.SYNTH_DESIGN.ARGS.MORE OPTIONS} -value {-mode out_of_context} -objects [get_runs synth_1]
