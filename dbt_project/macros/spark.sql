{#
  Where Spark SQL and DuckDB differ (README "Running on Spark", dbt_project/README.md "Portable
  SQL"). Each difference is a dispatched macro: `duckdb__x` / `spark__x` beside `default__x`.
#}

{#
  Model contracts: dbt checks a contracted model by casting NULL to each declared data_type.
  The contracts say `varchar` (DuckDB's name); Spark 4 rejects a bare VARCHAR without a length
  (DATATYPE_MISSING_SIZE) and calls the type STRING. Root-project spark__ macros win over the
  adapter's, so only the name is translated here and dbt's default does the rest.
#}
{% macro spark__get_empty_schema_sql(columns) %}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = dict(column) -%}
        {%- if (copy.get('data_type') or '').strip().lower() == 'varchar' -%}
            {%- do copy.update({'data_type': 'string'}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{% endmacro %}


{#
  Incremental refresh: DuckDB deletes the affected keys in a pre-hook and appends
  (macros/incremental.sql). Parquet tables on Spark support neither DELETE nor MERGE, and the
  affected keys (dates, live sessions, (brand, buyer) pairs) are not one partition column that
  `insert_overwrite` could replace. So on Spark every build is a full rebuild: every incremental
  model is dropped and re-created (dbt-spark's incremental materialization does that when
  should_full_refresh() is true) and int_refresh_scope reports full scope, so no model emits its
  partial-refresh SQL. Measured times: README "Running on Spark".
#}
{% macro dw_engine_rebuilds_in_full() %}
    {{ return(adapter.dispatch('dw_engine_rebuilds_in_full')()) }}
{% endmacro %}

{% macro default__dw_engine_rebuilds_in_full() %}
    {{ return(false) }}
{% endmacro %}

{% macro spark__dw_engine_rebuilds_in_full() %}
    {{ return(true) }}
{% endmacro %}


{# dbt's own should_full_refresh (global project), plus the engine's answer above. A root-project
   macro of the same name replaces dbt's for every materialization and is_incremental(). #}
{% macro should_full_refresh() %}
    {% set config_full_refresh = config.get('full_refresh') %}
    {% if config_full_refresh is none %}
        {% set config_full_refresh = flags.FULL_REFRESH %}
    {% endif %}
    {% do return(config_full_refresh or dw_engine_rebuilds_in_full()) %}
{% endmacro %}


{#
  The state dw_on_run_end keeps (intermediate.t0_snapshot, audit.dbt_watermark). DuckDB runs it
  as one multi-statement transaction with DELETE; Spark runs one statement per call and has no
  DELETE on Parquet, and its runs are always full scope, so the snapshot is overwritten whole.
#}
{% macro dw_save_run_state(full, first_orders, t0_changes) %}
    {{ return(adapter.dispatch('dw_save_run_state')(full, first_orders, t0_changes)) }}
{% endmacro %}

{% macro spark__dw_save_run_state(full, first_orders, t0_changes) %}
    {% call statement('dw_state_snapshot') %}
        insert overwrite table intermediate.t0_snapshot
        select brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain
        from {{ first_orders }}
    {% endcall %}
    {% call statement('dw_state_watermark') %}
        {{ dw_insert_watermark() }}
    {% endcall %}
{% endmacro %}


{#
  dbt.dateadd on Spark: dbt-spark's version goes through to_unix_timestamp/to_timestamp, i.e.
  whole seconds and a round trip through the session zone, which shifts a TIMESTAMP_NTZ by the
  zone offset (T0 + 30 days came out 8 hours early and repurchase windows lost orders).
  timestampadd keeps the input's type and microseconds, like DuckDB's `ts + interval`.
#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) %}
    timestampadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{% endmacro %}
