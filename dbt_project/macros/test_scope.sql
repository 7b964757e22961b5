{#
  Data tests of a partial (incremental) `dbt build` check only the rows that run wrote.

  Every generic test reads its model through get_where_subquery (dbt's hook for the `where`
  config), overridden here to add a filter to the affected keys of the incremental models and
  to the changed files' rows of raw.orders / raw.follows. Untouched rows passed the same tests
  when they were written, and a partial run cannot change them: duplicates, NULLs or bad values
  can only come with the rows it inserted. Without this, a nightly run would re-test all of
  history: the data tests on int_orders_counted/raw.orders scale with orders
  (~0.1-0.25 s each at 1M orders, x10 at 10M) and cost as much as in a full build.

  Not scoped: `dbt test` on its own, full-scope builds, singular tests (reconciliations read
  whole tables on purpose), and anything with var('dw_scope_tests', true) set to false.
#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope = dw_test_scope_filter(relation) -%}
    {%- if scope -%}
        {%- do conditions.append('(' ~ scope ~ ')') -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{% macro dw_test_scope_filter(relation) %}
    {% if not execute or flags.WHICH != 'build' or not var('dw_scope_tests', true) %}
        {{ return(none) }}
    {% endif %}
    {% set key = (relation.schema ~ '.' ~ relation.identifier) | lower %}
    {% set filters = {
        'intermediate.int_orders_counted':
            "order_id in (select order_id from {int_changed_order_versions})",
        'intermediate.int_buyer_first_orders':
            "exists (select 1 from {int_changed_order_versions} as affected_keys"
            ~ " where affected_keys.brand = {this}.brand and affected_keys.buyer_id = {this}.buyer_id)",
        'intermediate.int_cohort_buyers':
            "exists (select 1 from {int_affected_cohort_buyers} as affected_keys"
            ~ " where affected_keys.brand = {this}.brand and affected_keys.buyer_id = {this}.buyer_id)",
        'intermediate.int_follows_daily':
            "activity_date in (select activity_date from {int_affected_activity_dates})",
        'intermediate.int_brand_first_follows':
            "exists (select 1 from {int_changed_follow_versions} as affected_keys"
            ~ " where affected_keys.brand = {this}.brand and affected_keys.user_id = {this}.user_id)",
        'intermediate.int_fan_starts':
            "exists (select 1 from {int_changed_follow_versions} as affected_keys"
            ~ " where affected_keys.brand = {this}.brand and affected_keys.user_id = {this}.user_id)",
        'intermediate.int_fan_values':
            "exists (select 1 from {int_affected_cohort_buyers} as affected_keys"
            ~ " where affected_keys.brand = {this}.brand and affected_keys.buyer_id = {this}.user_id)",
        'marts.fct_gmv_by_source_daily':
            "order_date in (select order_date from {int_affected_order_dates})",
        'marts.fct_dual_wheel_daily':
            "order_date in (select order_date from {int_affected_order_dates})",
        'marts.fct_cohort_retention_monthly':
            dw_retention_scope('{this}', 'cast(' ~ dbt.dateadd('month', '{this}.months_since_first', '{this}.cohort_month') ~ ' as date)',
                               '{int_affected_order_dates}', '{int_t0_changes}'),
        'marts.fct_account_matrix_daily':
            "activity_date in (select activity_date from {int_affected_activity_dates})",
        'marts.fct_live_session':
            "live_session_id in (select live_session_id from {int_affected_live_sessions})",
    } %}
    {% if key in ('raw.orders', 'raw.follows') %}
        {{ return(dw_raw_test_scope_filter()) }}
    {% endif %}
    {% if key not in filters %}
        {{ return(none) }}
    {% endif %}
    {% if dw_scope_is_full(dw_model_relation('int_refresh_scope')) %}
        {{ return(none) }}
    {% endif %}
    {# A namespace: a plain `set` inside a Jinja for loop does not outlive the loop. #}
    {% set ns = namespace(sql=filters[key] | replace('{this}', relation | string)) %}
    {% for name in ['int_changed_order_versions', 'int_changed_follow_versions', 'int_t0_changes', 'int_affected_order_dates',
                    'int_affected_activity_dates', 'int_affected_live_sessions', 'int_affected_cohort_buyers'] %}
        {% if '{' ~ name ~ '}' in ns.sql %}
            {% set ns.sql = ns.sql | replace('{' ~ name ~ '}', dw_model_relation(name) | string) %}
        {% endif %}
    {% endfor %}
    {{ return(ns.sql) }}
{% endmacro %}


{#
  Source tests run before any model of the same build, so they cannot read this run's
  int_changed_files / int_refresh_scope (they would see the previous run's). Their filter is
  computed from the watermark directly: rows of files ingested after it. Raw rows of older
  files are unchanged since a build tested them; a changed checksum (new or edited tests or
  models), --full-refresh, var('full_refresh_all') or no watermark tests everything.
#}
{% macro dw_raw_test_scope_filter() %}
    {% if flags.FULL_REFRESH or var('full_refresh_all', false) %}
        {{ return(none) }}
    {% endif %}
    {% set rows = run_query(
        "select cast(built_at as " ~ dbt.type_string() ~ "), code_checksum from audit.dbt_watermark"
        ~ " where built_at = (select max(built_at) from audit.dbt_watermark)"
    ) %}
    {% if rows | length == 0 or rows[0][1] != dw_code_checksum() %}
        {{ return(none) }}
    {% endif %}
    {{ return(
        "_source_file in (select path from audit.ingested_files where ingested_at > cast('"
        ~ rows[0][0] ~ "' as " ~ dbt.type_timestamp() ~ "))"
    ) }}
{% endmacro %}
