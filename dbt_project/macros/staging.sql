{#
  The body of stg_orders (the contract's order dedupe), over any relation shaped like
  raw.orders. stg_orders applies it to all of raw.orders; int_orders_counted's partial refresh
  applies it to the raw versions of the changed order_ids only. That is not the same as
  filtering the stg_orders view: DuckDB does not push a semi-join below row_number(), so the
  view would rank every order each night (0.24 s at 1M orders vs 0.003 s pre-filtered).
#}
{% macro dw_latest_order_versions(relation, whole_table=false) %}
with

latest as (

    -- Later exports carry status updates and refunds. Ties on updated_at go to the later
    -- landing date, then the file name that sorts last, then the later row.
    {{ dw_first_in_file_order(relation, 'order_id', 'updated_at', descending=true, whole_table=whole_table) | indent(4) }}

),

renamed as (

    select
        order_id,
        buyer_id,
        account_id,
        live_session_id,
        traffic_source,
        product_id,
        category,
        cast(quantity as {{ dbt.type_bigint() }}) as quantity,
        {{ dw_money('gmv') }} as gmv,
        {{ dw_money('coalesce(refund_amount, 0)') }} as refund_amount,
        status,
        cast(paid_at as {{ dbt.type_timestamp() }}) as paid_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        _landing_date as landing_date,
        _source_file as source_file,
        _row_number as source_row_number

    from latest

)

select * from renamed
{% endmacro %}


{#
  The body of stg_follows (first copy of each event wins), over any relation shaped like
  raw.follows; the incremental follow models apply it to the copies of the affected events only
  on a partial refresh (same reason as dw_latest_order_versions), see dw_follows_with_a_copy_where.
#}
{% macro dw_first_follow_copies(relation) %}
with

first_copies as (

    -- A repeated event is the same fact exported twice: the first copy wins
    -- (earlier landing date, files in name order, rows in file order).
    {{ dw_first_in_file_order(relation, 'event_id', none, descending=false) | indent(4) }}

),

renamed as (

    select
        event_id,
        user_id,
        account_id,
        action,
        coalesce(traffic_source, 'other') as traffic_source,
        live_session_id,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        _landing_date as landing_date,
        _source_file as source_file,
        _row_number as source_row_number

    from first_copies

)

select * from renamed
{% endmacro %}


{#
  A partial refresh's follows: every event with at least one raw copy matching `predicate`
  (SQL over raw.follows columns), deduplicated over ALL its copies, since the winning copy may
  be one that does not match (another user, account or date than the changed copy).
  int_brand_first_follows, int_fan_starts and int_follows_daily read follows this way.
#}
{% macro dw_follows_with_a_copy_where(predicate) %}
    {%- set candidates -%}
        (select * from {{ source('raw', 'follows') }}
         where event_id in (
            select event_id from {{ source('raw', 'follows') }}
            where {{ predicate }}
        ))
    {%- endset %}
    select * from ({{ dw_first_follow_copies(candidates) }}) as winners
{%- endmacro %}



{#
  The winning row of each `partition_by` value of `relation` (shaped like a raw table): first by
  (`leading` column, landing date, file name, row in file), ascending, or last when `descending`:
  the contract's order of export versions (§6). All of `relation`'s columns, plus a rank column
  where the engine needs one.

  `whole_table`: `relation` is a whole raw table (stg_orders). DuckDB then takes the
  winner as arg_max/arg_min of the row id over ONE packed HUGEINT key (epoch microseconds of
  `leading`, the file's position among the table's files by landing date then name, the row
  number) and reads the winning rows back by row id. A window over four sort keys spilled to disk
  under the 3 GB memory limit: int_orders_counted (20.7M raw order rows, 2 cores) took 11.8 s to
  compute this way instead of 7.5 s with the window. DuckDB rewrites a one-key `row_number() = 1`
  window into this by itself, but not when another filter (int_orders_counted's "not cancelled")
  sits on the same rows, hence spelled out. A partial refresh ranks a few thousand rows through
  a subquery (no row ids): the window is right there; Spark always uses the window. stg_follows
  (3.9M rows) keeps the window too: the row-id form measured no net gain there.
#}
{% macro dw_first_in_file_order(relation, partition_by, leading, descending, whole_table=false) %}
    {{ return(adapter.dispatch('dw_first_in_file_order')(relation, partition_by, leading, descending, whole_table)) }}
{% endmacro %}

{% macro default__dw_first_in_file_order(relation, partition_by, leading, descending, whole_table) %}
    {%- set direction = 'desc' if descending else 'asc' -%}
    select * from (
        select
            versions.*,
            row_number() over (
                partition by versions.{{ partition_by }}
                order by
                    {% if leading %}versions.{{ leading }} {{ direction }},
                    {% endif %}versions._landing_date {{ direction }},
                    versions._source_file {{ direction }},
                    versions._row_number {{ direction }}
            ) as file_order_rank
        from {{ relation }} as versions
    ) as ranked
    where file_order_rank = 1
{% endmacro %}

{% macro duckdb__dw_first_in_file_order(relation, partition_by, leading, descending, whole_table) %}
    {#- A dbt unit test replaces the raw table with a fixture CTE (__dbt__cte__...), which has no row ids. -#}
    {%- if not whole_table or '__dbt__cte__' in (relation | string) -%}
        {{ return(default__dw_first_in_file_order(relation, partition_by, leading, descending, whole_table)) }}
    {%- endif -%}
    select * from {{ relation }}
    where rowid in (
        -- 2^64 and 2^32: a file's rank and a row number each fit in 32 bits; the leading
        -- timestamp's microseconds (negative before 1970 too) take the high 64.
        select {{ 'arg_max' if descending else 'arg_min' }}(
            versions.rowid,
            {% if leading %}cast(epoch_us(versions.{{ leading }}) as hugeint) * 18446744073709551616
            + {% endif %}file_ranks.file_rank * 4294967296
            + versions._row_number
        )
        from {{ relation }} as versions
        inner join (
            select
                _landing_date,
                _source_file,
                row_number() over (order by _landing_date, _source_file) as file_rank
            from (select distinct _landing_date, _source_file from {{ relation }}) as files
        ) as file_ranks
            on versions._landing_date = file_ranks._landing_date
            and versions._source_file = file_ranks._source_file
        group by versions.{{ partition_by }}
    )
{% endmacro %}


{#
  A filter on `alias` (rows of `relation`, a raw TABLE: a view has no row ids): its `key` is one
  of `keys`' (a CTE or relation with a `key` column; 68k changed order ids in a 10M-order
  nightly). The bounds by the keys' min and max never change the answer; where ids grow with
  time (Kuaishou's order ids do) they let DuckDB skip the row groups of older files by their
  min/max. DuckDB then reads the matching rows back by row id: the semi-join alone scanned every
  column of every row (raw.orders: 20.8M rows, 1.24 s of scan CPU in a 10M-order nightly).
  Measured on that nightly's state (DuckDB, CTAS, x3): the 116k versions of 68k changed orders
  0.84-1.00 s as a plain semi-join, 0.40-0.49 s by row id, 0.26-0.29 s with the bounds,
  0.17-0.19 s with both (int_changed_order_versions in dbt: 1.87 -> 0.5-0.8 s); the copies of
  12k changed follow events 0.13 -> 0.011 s. Spark (always a full scope) and dbt unit tests
  (fixture CTEs have no row ids) take the plain form.
#}
{% macro dw_key_in(relation, alias, key, keys) %}
    {{ return(adapter.dispatch('dw_key_in')(relation, alias, key, keys)) }}
{% endmacro %}

{% macro dw_key_in_bounds(expression, key, keys) -%}
    {{ expression }} in (select {{ key }} from {{ keys }})
    and {{ expression }} between (select min({{ key }}) from {{ keys }}) and (select max({{ key }}) from {{ keys }})
{%- endmacro %}

{% macro default__dw_key_in(relation, alias, key, keys) -%}
    {{ dw_key_in_bounds(alias ~ '.' ~ key, key, keys) }}
{%- endmacro %}

{% macro duckdb__dw_key_in(relation, alias, key, keys) -%}
    {%- if '__dbt__cte__' in (relation | string) -%}
        {{ return(default__dw_key_in(relation, alias, key, keys)) }}
    {%- endif -%}
    {{ alias }}.rowid in (
        select rowid from {{ relation }}
        where {{ dw_key_in_bounds(key, key, keys) }}
    )
{%- endmacro %}
