-- grain: (order_date, account_id)
{#
  Incremental by order_date. new_buyers also depends on T0 (all history): a moved T0 puts its
  old and new date into int_affected_order_dates, so a date-bounded recompute stays exact.
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

first_orders as (

    select * from {{ ref('int_buyer_first_orders') }}

),

orders_flagged as (

    select
        counted_orders.*,
        first_orders.t0_order_id is not null as is_t0_order

    from counted_orders

    left join first_orders
        on counted_orders.order_id = first_orders.t0_order_id

),

daily as (

    select
        order_date,
        account_id,
        brand,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        -- New (新买家): the buyer's brand-level T0 order is one of this account-day's orders.
        count(distinct case when is_t0_order then buyer_id end) as new_buyers,
        sum(gmv) as gmv,
        sum(refund_amount) as refund_amount,
        sum(net_gmv) as net_gmv,
        sum(case when domain = 'private' then gmv else 0 end) as gmv_private,
        sum(case when domain = 'public' then gmv else 0 end) as gmv_public,
        sum(case when domain = 'public' and is_paid then gmv else 0 end) as gmv_public_paid

    from orders_flagged

    group by
        order_date,
        account_id,
        brand

)

select
    order_date,
    account_id,
    brand,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(buyers as {{ dbt.type_bigint() }}) as buyers,
    cast(new_buyers as {{ dbt.type_bigint() }}) as new_buyers,
    cast(buyers - new_buyers as {{ dbt.type_bigint() }}) as returning_buyers,
    {{ dw_money('gmv') }} as gmv,
    {{ dw_money('refund_amount') }} as refund_amount,
    {{ dw_money('net_gmv') }} as net_gmv,
    {{ dw_money('gmv_private') }} as gmv_private,
    {{ dw_money('gmv_public') }} as gmv_public,
    {{ dw_money('gmv_public_paid') }} as gmv_public_paid,
    {{ dw_money('gmv_public - gmv_public_paid') }} as gmv_public_organic,
    {{ dw_ratio('gmv_private', 'gmv') }} as private_share,
    {{ dw_ratio('gmv - gmv_public_paid', 'gmv') }} as organic_share
from daily
