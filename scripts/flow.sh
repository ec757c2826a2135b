#!/usr/bin/env bash
# The whole repq-hw flow on the embedded demo model (or MODEL), into one output folder:
#   quantize (RepQ-ViT, W8A8 by default) -> evaluate (f32, fake-quant, integer) -> golden vectors
#   -> RTL for a 16x16 array -> checks (golden read-back; with Verilator installed: lint of the RTL
#   and `repq-hw verify`, the RTL against the golden vectors, bit for bit, on real layers)
#   -> report.html (`repq-hw report`: the paper's Figs. 2 and 3, per-layer SQNR, accuracy and the
#   generated design's per-layer cycles, as one self-contained page)
# with report.md summarizing every step. The RTL is generated with gen's defaults for the
# quantized model (its exact accumulator width, s32 output lanes), on which every case runs.
# Writes into OUT.partial and renames it to OUT only when every step succeeded, so OUT is never a
# half-written folder.
#
# usage: scripts/flow.sh [OUT] (env: REPQ_HW=path/to/repq-hw, WBITS, ABITS, PE, BLOCKS: the
#   blocks verify runs, default 0)
set -euo pipefail
OUT=${1:-out/demo}
BIN=${REPQ_HW:-target/release/repq-hw}
WBITS=${WBITS:-8}
ABITS=${ABITS:-8}
PE=${PE:-16x16}
BLOCKS=${BLOCKS:-0}
if [ "$BLOCKS" = all ]; then BLOCK_ARGS=(--all-blocks); else BLOCK_ARGS=(--blocks "$BLOCKS"); fi
TMP="$OUT.partial"
rm -rf "$TMP"
mkdir -p "$TMP"
REPORT="$TMP/report.md"

step() { # step TITLE COMMAND...: runs COMMAND, appends its output to the report
  local title=$1; shift
  echo "== $title" >&2
  {
    echo "## $title"
    echo
    echo '```'
    if [ "$1" = "$BIN" ]; then echo "\$ repq-hw ${*:2}"; else echo "\$ $*"; fi | sed -e "s#$TMP/##g" -e "s#$TMP#.#g"
  } >> "$REPORT"
  local start=$SECONDS
  "$@" 2>&1 | tee -a "$REPORT.log" | grep -v '^\s*$' | sed -e "s#$TMP/##g" -e "s#$TMP#.#g" >> "$REPORT"
  echo '```' >> "$REPORT"
  echo "($((SECONDS - start)) s)" >> "$REPORT"
  echo >> "$REPORT"
}

{
  echo "# repq-hw flow report"
  echo
  echo "repq-hw $("$BIN" --version | awk '{print $2}'), W${WBITS}A${ABITS}, array $PE, embedded demo model"
  echo
} > "$REPORT"

step "Float model" "$BIN" info
step "Quantize (RepQ-ViT)" "$BIN" quantize --wbits "$WBITS" --abits "$ABITS" --out "$TMP/quantized.safetensors"
step "Evaluate: f32" "$BIN" eval
step "Evaluate: fake-quant and bit-accurate integer" "$BIN" eval --model "$TMP/quantized.safetensors" --integer
step "Golden vectors (test image 0)" "$BIN" golden --model "$TMP/quantized.safetensors" --index 0 --out "$TMP/golden"
step "Golden vectors read back" "$BIN" golden --check "$TMP/golden"
step "Generate RTL" "$BIN" gen --pe "$PE" --wbits "$WBITS" --abits "$ABITS" \
  --model "$TMP/quantized.safetensors" --out "$TMP/rtl"
step "Cycle model of one forward pass on the generated array" "$BIN" perf --pe "$PE" --wbits "$WBITS" --abits "$ABITS" \
  --model "$TMP/quantized.safetensors"
if command -v verilator >/dev/null 2>&1; then
  lint() {
    (cd "$TMP/rtl" && for top in repq_top repq_requant repq_logcode repq_shift_av repq_av_requant repq_gelu repq_residual; do
      verilator --lint-only -Wall repq_lint.vlt -f files.f --top-module "$top" || exit 1
    done && echo "verilator --lint-only -Wall: no warnings (repq_top and the six standalone units)")
  }
  step "Verilator lint of the generated RTL (cd rtl && verilator --lint-only -Wall repq_lint.vlt -f files.f --top-module TOP)" lint
  step "Verify the RTL against the golden vectors (Verilator, bit for bit)" "$BIN" verify --rtl "$TMP/rtl" \
    --golden "$TMP/golden" "${BLOCK_ARGS[@]}" --report "$TMP/verify.md"
else
  # `make demo` installs Verilator; a flow run without it is not the whole flow.
  echo "error: verilator is not installed; run \`make demo\` (installs it) or apt-get install verilator" >&2
  exit 1
fi
step "Quantization and hardware report (figures)" "$BIN" report --model "$TMP/quantized.safetensors" \
  --rtl "$TMP/rtl" --out "$TMP"
rm -f "$REPORT.log"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "flow complete: $OUT (report: $OUT/report.md, figures: $OUT/report.html)" >&2
