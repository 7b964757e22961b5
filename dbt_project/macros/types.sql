{#
  Type helpers shared by the marts. dbt.type_float() is not used on purpose: it renders as
  FLOAT, which DuckDB reads as a 4-byte REAL; the contract wants 8-byte DOUBLE (also a valid
  Spark SQL type name, so no dispatch is needed).
#}

{% macro dw_money(expr) -%}
    cast({{ expr }} as decimal(18, 2))
{%- endmacro %}

{% macro dw_double(expr) -%}
    cast({{ expr }} as double)
{%- endmacro %}

{# Ratios are NULL, never an error or infinity, when the denominator is 0 or NULL. #}
{% macro dw_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}

{# The one brand/role label every account missing from the roster shares. #}
{% macro dw_unmapped() -%}
    '(unmapped)'
{%- endmacro %}
