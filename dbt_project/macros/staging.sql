{#
  The body of stg_orders (the contract's order dedupe), over any relation shaped like
  raw.orders. stg_orders applies it to all of raw.orders; int_orders_counted's partial refresh
  applies it to the raw versions of the changed order_ids only. That is not the same as
  filtering the stg_orders view: DuckDB does not push a semi-join below row_number(), so the
  view would rank every order each night (0.24 s at 1M orders vs 0.003 s pre-filtered).
#}
{% macro dw_latest_order_versions(relation) %}
with

source as (

    select * from {{ relation }}

),

ranked as (

    select
        *,
        -- Later exports carry status updates and refunds. Ties on updated_at go to the later
        -- landing date, then the file name that sorts last, then the later row.
        row_number() over (
            partition by order_id
            order by
                updated_at desc,
                _landing_date desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from source

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

    from ranked

    where version_rank = 1

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

source as (

    select * from {{ relation }}

),

ranked as (

    select
        *,
        -- A repeated event is the same fact exported twice: the first copy wins
        -- (earlier landing date, files in name order, rows in file order).
        row_number() over (
            partition by event_id
            order by _landing_date, _source_file, _row_number
        ) as copy_rank

    from source

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

    from ranked

    where copy_rank = 1

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
