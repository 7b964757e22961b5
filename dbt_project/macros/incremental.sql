{#
  Incremental refresh: change detection inside dbt (README "Incremental refresh").

  State kept between runs, both written only by `dw_on_run_end` after a fully successful run:
    audit.dbt_watermark   one row per successful run: built_at = the Asia/Shanghai local naive
                          time the run STARTED (audit.ingested_files.ingested_at is naive local
                          time too); code_checksum = the models' and seeds' checksums.
    intermediate.t0_snapshot  each (brand, buyer)'s T0 as of the last successful run, so a run
                          can tell which T0s moved (new_buyers of the old and the new T0 date).
  "Changed files" are audit.ingested_files rows with ingested_at > the latest built_at. Ingestion
  and dbt never overlap (one DuckDB writer at a time), so a file ingested during a run is
  impossible and one ingested after it has ingested_at > built_at.
#}

{% macro dw_on_run_start() %}
    {# The state tables must exist before int_refresh_scope reads them (first run: empty). #}
    {% do run_query("create schema if not exists audit") %}
    {% do run_query("create schema if not exists intermediate") %}
    {% do run_query(
        "create table if not exists audit.dbt_watermark ("
        ~ "built_at " ~ dbt.type_timestamp() ~ " not null, "
        ~ "run_started_at " ~ dbt.type_timestamp() ~ " not null, "
        ~ "code_checksum " ~ dbt.type_string() ~ ")"
    ) %}
    {% do run_query(
        "create table if not exists intermediate.t0_snapshot ("
        ~ "brand " ~ dbt.type_string() ~ " not null, "
        ~ "buyer_id " ~ dbt.type_string() ~ " not null, "
        ~ "t0_order_id " ~ dbt.type_string() ~ " not null, "
        ~ "t0_paid_at " ~ dbt.type_timestamp() ~ " not null, "
        ~ "t0_order_date date not null, "
        ~ "first_domain " ~ dbt.type_string() ~ " not null)"
    ) %}
    {# Tables of models that no longer exist: dbt never drops a relation whose model is gone, and
       a warehouse built by an older dualwheel would keep them (and their disk) forever.
       int_cohort_orders (9.7M rows at 10M orders) was folded into its two readers. #}
    {% for retired in ['int_cohort_orders'] %}
        {% do run_query("drop table if exists intermediate." ~ retired) %}
    {% endfor %}
{% endmacro %}


{# Models whose success a watermark certifies: every model that consumes the change set. A
   partial run (`dbt build -s ...`, a Dagster subset, `dbt test`) must not advance the
   watermark, or the models it skipped would never see those files. #}
{% macro dw_watermark_models() %}
    {{ return([
        'int_refresh_scope', 'int_changed_files', 'int_changed_order_versions',
        'int_changed_follow_versions', 'int_follows_daily', 'int_brand_first_follows',
        'int_buyer_first_orders', 'int_t0_changes', 'int_affected_order_dates',
        'int_affected_activity_dates', 'int_affected_live_sessions',
        'int_orders_counted', 'int_affected_cohort_buyers', 'int_cohort_buyers',
        'fct_cohort_retention_monthly', 'fct_gmv_by_source_daily', 'fct_dual_wheel_daily',
        'fct_account_matrix_daily', 'fct_live_session', 'int_fan_starts', 'int_fan_values'
    ]) }}
{% endmacro %}


{# A checksum over the project's models and seeds: editing the SQL, a model contract (column types,
   NOT NULL constraints) or the traffic_sources seed changes what every row should be, so the
   next run treats everything as affected. An incremental table keeps the DDL it was created
   with: a new constraint reaches an existing warehouse with `dbt build --full-refresh`. #}
{% macro dw_code_checksum() %}
    {% set parts = [] %}
    {% for node in graph.nodes.values() | sort(attribute='unique_id') %}
        {% if node.resource_type in ('model', 'seed') and node.package_name == project_name %}
            {% do parts.append(node.unique_id ~ '=' ~ node.checksum.checksum ~ '/' ~ ((node.get('contract') or {}).get('checksum') or '')) %}
        {% endif %}
    {% endfor %}
    {{ return(local_md5(parts | join(';'))) }}
{% endmacro %}


{# The relation of one of this project's models, for hooks (which cannot call ref()). Looked up
   by unique_id instead of a Jinja loop over graph.nodes (~200) per call: a scoped test's filter
   makes up to 8 calls (macros/test_scope.sql). Tests' compile time in a 10M-order nightly:
   1.49-1.62 -> 1.43-1.49 s of thread time. #}
{% macro dw_model_relation(name) %}
    {% set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) %}
    {% if node is none %}
        {{ exceptions.raise_compiler_error('dw_model_relation: no model ' ~ name) }}
    {% endif %}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
{% endmacro %}


{# run_started_at (UTC, aware) as a naive Asia/Shanghai literal, the clock of ingested_at. #}
{% macro dw_run_started_local() %}
    {% set local = run_started_at.astimezone(modules.pytz.timezone('Asia/Shanghai')) %}
    {{ return(local.strftime('%Y-%m-%d %H:%M:%S.%f')) }}
{% endmacro %}


{% macro dw_on_run_end(results) %}
    {% if not execute or flags.WHICH not in ('build', 'run') %}
        {{ return('') }}
    {% endif %}
    {% set succeeded = [] %}
    {% for res in results %}
        {% if res.status in ('error', 'fail', 'runtime error', 'skipped') %}
            {{ log('dualwheel: not advancing the watermark, ' ~ res.node.name ~ ' ' ~ res.status, info=true) }}
            {{ return('') }}
        {% endif %}
        {% if res.node.resource_type == 'model' and res.status == 'success' %}
            {% do succeeded.append(res.node.name) %}
        {% endif %}
    {% endfor %}
    {% for name in dw_watermark_models() %}
        {% if name not in succeeded %}
            {{ log('dualwheel: not advancing the watermark, ' ~ name ~ ' was not built in this run', info=true) }}
            {{ return('') }}
        {% endif %}
    {% endfor %}

    {# ref() cannot be used in a hook; the relations come from the manifest instead. #}
    {% set first_orders = dw_model_relation('int_buyer_first_orders') %}
    {% set t0_changes = dw_model_relation('int_t0_changes') %}
    {% set full = dw_scope_is_full(dw_model_relation('int_refresh_scope')) %}
    {% do dw_save_run_state(full, first_orders, t0_changes) %}
    {% do adapter.commit() %}
    {{ log('dualwheel: watermark advanced to ' ~ dw_run_started_local() ~ (' (full refresh)' if full else ''), info=true) }}
    {{ return('') }}
{% endmacro %}


{# True when this run must treat every key as affected: --full-refresh, var full_refresh_all,
   no watermark yet, changed code/seed, a replaced file or a roster file among the changes.
   Decided once in int_refresh_scope; read here at execution time so incremental models can
   emit different SQL (no semi-joins at all on a full rebuild). #}
{% macro dw_scope_is_full(scope_relation=none) %}
    {% if not execute %}
        {{ return(true) }}
    {% endif %}
    {% if flags.FULL_REFRESH or dw_engine_rebuilds_in_full() %}
        {{ return(true) }}
    {% endif %}
    {% set remembered = graph.get('dw_refresh_scope', {}).get(invocation_id) %}
    {% if remembered is not none %}
        {{ return(remembered) }}
    {% endif %}
    {{ return(dw_read_scope_is_full(scope_relation if scope_relation is not none else ref('int_refresh_scope'))) }}
{% endmacro %}


{# int_refresh_scope's one is_full_refresh value, as a boolean (engines return it as a bool, 1 or text). #}
{% macro dw_read_scope_is_full(scope) %}
    {% set rows = run_query('select is_full_refresh from ' ~ scope) %}
    {{ return(rows.columns[0].values()[0] in (true, 1, 'true', 'True')) }}
{% endmacro %}


{# Post-hook of int_refresh_scope: this run's answer, kept for the ~90 models, tests and hooks
   that ask dw_scope_is_full() after it. Each used to query the one-row table again: 92 queries
   in a 10M-order nightly, ~10 ms of dbt's Python and DuckDB each. `graph` (the manifest's flat
   graph) is the one object every node of an invocation shares; the answer is stored under the
   invocation's id, and only once int_refresh_scope has been built in it, so a run never reads
   an answer of the table's previous build. #}
{% macro dw_remember_refresh_scope() %}
    {% if execute and not (flags.FULL_REFRESH or dw_engine_rebuilds_in_full()) %}
        {% do graph.setdefault('dw_refresh_scope', {}).update({invocation_id: dw_read_scope_is_full(this)}) %}
    {% endif %}
{% endmacro %}


{# True when an incremental model should only recompute its affected keys. #}
{% macro dw_is_partial_refresh() %}
    {{ return(is_incremental() and not dw_scope_is_full()) }}
{% endmacro %}


{# Pre-hook of the incremental models (strategy `append`): delete the rows matching `predicate`
   (the affected keys), or every row on a full-scope run. The default delete+insert deletes only
   keys present in the new batch, so a key that vanished (a date whose orders were all
   cancelled, an order that is no longer counted) would survive; hence the explicit key set.
   Runs inside the model's transaction, before the insert: a failure rolls both back. #}
{% macro dw_delete_rows(predicate) %}
    {% if is_incremental() %}
        {% if dw_scope_is_full() %}
            delete from {{ this }}
        {% else %}
            delete from {{ this }} where {{ predicate }}
        {% endif %}
    {% endif %}
{% endmacro %}


{# dw_delete_rows for rows whose key is in keys_relation (one column, or a list: composite). #}
{% macro dw_delete_affected(key_column, keys_relation, keys_column=none) %}
    {% if key_column is string %}
        {% set predicate = key_column ~ ' in (select ' ~ (keys_column or key_column) ~ ' from ' ~ keys_relation ~ ')' %}
    {% else %}
        {# Composite key: a correlated EXISTS (row-value IN is not portable). #}
        {% set matches = [] %}
        {% for key in key_column %}
            {% do matches.append('affected_keys.' ~ key ~ ' = ' ~ this ~ '.' ~ key) %}
        {% endfor %}
        {% set predicate = 'exists (select 1 from ' ~ keys_relation ~ ' as affected_keys where '
                           ~ matches | join(' and ') ~ ')' %}
    {% endif %}
    {{ dw_delete_rows(predicate) }}
{% endmacro %}


{# fct_cohort_retention_monthly rows a partial run must recompute, as a predicate on `alias`
   (with its month of orders as `order_month`): every row whose orders fall in a month with an
   affected order date (each version of a changed order: a row's orders all share its month),
   and the whole cohorts a moved T0 leaves or joins (all that buyer's orders change cohort).
   The two key relations are arguments: the data tests pass placeholders (macros/test_scope.sql). #}
{% macro dw_retention_scope(alias, order_month, affected_dates, t0_changes) %}
    (
        {{ order_month }} in (
            select cast({{ dbt.date_trunc('month', 'affected.order_date') }} as date)
            from {{ affected_dates }} as affected
        )
        or exists (
            select 1 from {{ t0_changes }} as t0_changes
            where t0_changes.brand = {{ alias }}.brand
              and {{ alias }}.cohort_month in (
                  cast({{ dbt.date_trunc('month', 't0_changes.old_t0_order_date') }} as date),
                  cast({{ dbt.date_trunc('month', 't0_changes.new_t0_order_date') }} as date)
              )
        )
    )
{% endmacro %}


{# The rows of `alias` whose (brand, buyer) is in int_affected_cohort_buyers: what a partial run
   of the per-buyer and per-fan models (int_cohort_buyers, int_fan_values) recomputes.
   `buyer_column` names the buyer in `alias` (user_id for a fan). #}
{% macro dw_is_affected_cohort_buyer(alias, buyer_column='buyer_id') -%}
    exists (
        select 1 from {{ ref('int_affected_cohort_buyers') }} as affected
        where affected.brand = {{ alias }}.brand
          and affected.buyer_id = {{ alias }}.{{ buyer_column }}
    )
{%- endmacro %}


{# The earliest order month dw_retention_scope can select (NULL when it selects nothing): an
   affected order month, or the cohort month of a moved T0 — and no order of a buyer is in a
   month before the buyer's cohort month. As a plain filter on the counted orders it keeps a
   partial run from joining every counted order to its T0 before applying the scope. #}
{% macro dw_retention_scope_start(affected_dates, t0_changes) %}
    (
        select min(scope_month) from (
            select cast({{ dbt.date_trunc('month', 'affected.order_date') }} as date) as scope_month
            from {{ affected_dates }} as affected
            union all
            select cast({{ dbt.date_trunc('month', 't0_changes.old_t0_order_date') }} as date)
            from {{ t0_changes }} as t0_changes
            union all
            select cast({{ dbt.date_trunc('month', 't0_changes.new_t0_order_date') }} as date)
            from {{ t0_changes }} as t0_changes
        ) as scope_months
    )
{% endmacro %}


{# Pre-hook of fct_cohort_retention_monthly (see dw_delete_rows for why a pre-hook). #}
{% macro dw_delete_retention_rows() %}
    {{ dw_delete_rows(dw_retention_scope(
        this, 'cast(' ~ dbt.dateadd('month', 'months_since_first', 'cohort_month') ~ ' as date)',
        ref('int_affected_order_dates'), ref('int_t0_changes'))) }}
{% endmacro %}


{# dw_on_run_end's writes (spark__ version in macros/spark.sql): one transaction on DuckDB. #}
{% macro default__dw_save_run_state(full, first_orders, t0_changes) %}
    {% call statement('dw_state', fetch_result=False, auto_begin=True) %}
        {% if full %}
            delete from intermediate.t0_snapshot;
            insert into intermediate.t0_snapshot
                (brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain)
            select brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain
            from {{ first_orders }};
        {% else %}
            {# Only the (brand, buyer) pairs whose T0 moved differ from the live table. #}
            delete from intermediate.t0_snapshot
            where exists (
                select 1 from {{ t0_changes }} as changes
                where changes.brand = intermediate.t0_snapshot.brand
                  and changes.buyer_id = intermediate.t0_snapshot.buyer_id
            );
            insert into intermediate.t0_snapshot
                (brand, buyer_id, t0_order_id, t0_paid_at, t0_order_date, first_domain)
            select brand, buyer_id, new_t0_order_id, new_t0_paid_at, new_t0_order_date, new_first_domain
            from {{ t0_changes }}
            where new_t0_order_id is not null;
        {% endif %}
        {{ dw_insert_watermark() }};
    {% endcall %}
{% endmacro %}


{% macro dw_insert_watermark() %}
        insert into audit.dbt_watermark (built_at, run_started_at, code_checksum)
        values (
            cast('{{ dw_run_started_local() }}' as {{ dbt.type_timestamp() }}),
            cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}),
            '{{ dw_code_checksum() }}'
        )
{% endmacro %}
