{{ header }}
// Source files of repq_top, the standalone units and (when generated) the engine repq_vit, leaves first (paths relative to this
// directory: run tools from here, or use verilator -F).
{%- for f in sources %}
{{ f }}
{%- endfor %}
