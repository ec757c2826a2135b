{{ header }}
// Source files of repq_top and the standalone units, leaves first (paths relative to this
// directory: run tools from here, or use verilator -F).
{%- for f in sources %}
{{ f }}
{%- endfor %}
