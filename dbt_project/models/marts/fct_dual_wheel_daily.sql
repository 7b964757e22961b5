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

new_buyers as (

    -- Each (brand, buyer) has exactly one T0 order and an account belongs to one brand, so the
    -- buyers whose T0 is one of an account-day's orders are the T0 rows counted per (T0 date,
    -- T0 account). Aggregating the ~3M T0 rows replaces joining ~10M counted orders to them on
    -- order_id (10M orders: the mart's largest cost).
    select
        t0_order_date as order_date,
        t0_account_id as account_id,
        count(*) as new_buyers

    from {{ ref('int_buyer_first_orders') }}
    {% if dw_is_partial_refresh() %}
    where t0_order_date in (select order_date from {{ ref('int_affected_order_dates') }})
    {% endif %}

    group by
        t0_order_date,
        t0_account_id

),

daily as (

    select
        order_date,
        account_id,
        brand,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        sum(gmv) as gmv,
        sum(refund_amount) as refund_amount,
        sum(net_gmv) as net_gmv,
        sum(case when domain = 'private' then gmv else 0 end) as gmv_private,
        sum(case when domain = 'public' then gmv else 0 end) as gmv_public,
        sum(case when domain = 'public' and is_paid then gmv else 0 end) as gmv_public_paid

    from counted_orders

    group by
        order_date,
        account_id,
        brand

),

with_new_buyers as (

    select
        daily.*,
        -- New (新买家): the buyer's brand-level T0 order is one of this account-day's orders.
        coalesce(new_buyers.new_buyers, 0) as new_buyers

    from daily

    left join new_buyers
        on daily.order_date = new_buyers.order_date
        and daily.account_id = new_buyers.account_id

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
from with_new_buyers
