{{ header }}
# The Yosys step of the `synth` target of repq_top.core for --target generic (FuseSoC, Edalize's
# yosys backend): technology-independent synthesis of repq_top. Edalize sources this file while
# it reads the sources; it replaces the backend's `synth_<arch>` step (there is no FPGA family
# here: `arch: generic` names none) with Yosys's generic `synth`, and writes the cell statistics
# to repq_top_stat.txt. The SDC (repq_top.sdc) is for the timing-driven flow that follows, such
# as OpenROAD or a vendor tool; Yosys does not read it.
proc synth {top} {
    yosys synth -top $top
    yosys tee -o repq_top_stat.txt stat
}
