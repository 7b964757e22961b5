-- grain: (order_date, account_id, traffic_source)
{#
  Incremental by order_date: every row of a date comes from that date's counted orders only,
  so a partial run deletes and recomputes the affected dates (int_affected_order_dates).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected('order_date', ref('int_affected_order_dates'), 'order_date') }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_order_dates') }}
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }}
    {% if dw_is_partial_refresh() %}
    where order_date in (select order_date from {{ ref('int_affected_order_dates') }})
    {% endif %}

),

daily as (

    select
        order_date,
        account_id,
        traffic_source,
        domain,
        is_paid,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        sum(gmv) as gmv,
        sum(refund_amount) as refund_amount,
        sum(net_gmv) as net_gmv

    from counted_orders

    -- domain and is_paid depend on traffic_source alone; grouped rather than any_value()
    -- so the SQL stays portable.
    group by
        order_date,
        account_id,
        traffic_source,
        domain,
        is_paid

)

select
    order_date,
    account_id,
    traffic_source,
    domain,
    is_paid,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(buyers as {{ dbt.type_bigint() }}) as buyers,
    {{ dw_money('gmv') }} as gmv,
    {{ dw_money('refund_amount') }} as refund_amount,
    {{ dw_money('net_gmv') }} as net_gmv
from daily
