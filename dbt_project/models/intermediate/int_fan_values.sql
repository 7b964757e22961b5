-- grain: (brand, user_id) — every fan (a fan start) with what the fan bought before and in the 30/90 days after the start
{#
  The per-fan half of fct_fan_cohort, kept per fan for the same reason as int_cohort_buyers:
  a nightly run recomputes only the (brand, user) pairs a new day touched and the mart only
  sums ~one row per fan. A fan's row reads only that user's fan start (int_fan_starts: changes
  only with a changed follow event) and that user's counted orders of the brand (change only
  with a changed order version), so the affected pairs are exactly int_affected_cohort_buyers
  (changed order buyers ∪ changed follow users; its buyer_id is the same id space as user_id).
  A late earlier follow moves the start (and so every window); a new order moves a window.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_rows('exists (select 1 from ' ~ ref('int_affected_cohort_buyers') ~ ' as affected_keys where affected_keys.brand = ' ~ this ~ '.brand and affected_keys.buyer_id = ' ~ this ~ '.user_id)') }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_cohort_buyers') }}
{%- set partial = dw_is_partial_refresh() %}
with

fans as (

    select * from {{ ref('int_fan_starts') }} as fan_starts
    {% if partial %}
    where {{ dw_is_affected_cohort_buyer('fan_starts', 'user_id') }}
    {% endif %}

),

counted_orders as (

    select * from {{ ref('int_orders_counted') }} as counted
    {% if partial %}
    where {{ dw_is_affected_cohort_buyer('counted') }}
    {% endif %}

),

fan_orders as (

    -- `fan start + N days` is N x 24 hours after the start, inclusive; an order at exactly
    -- the start second was placed before the fan existed (bought_before), never in a window.
    select
        fans.brand,
        fans.user_id,
        max(case when counted_orders.paid_at <= fans.fan_started_at then 1 else 0 end)
            as bought_before,
        max(case when counted_orders.paid_at > fans.fan_started_at
                  and counted_orders.paid_at <= {{ dbt.dateadd('day', 30, 'fans.fan_started_at') }}
            then 1 else 0 end) as bought_30d,
        sum(case when counted_orders.paid_at > fans.fan_started_at
                  and counted_orders.paid_at <= {{ dbt.dateadd('day', 30, 'fans.fan_started_at') }}
            then 1 else 0 end) as orders_30d,
        sum(case when counted_orders.paid_at > fans.fan_started_at
                  and counted_orders.paid_at <= {{ dbt.dateadd('day', 30, 'fans.fan_started_at') }}
            then counted_orders.gmv else 0 end) as gmv_30d,
        sum(case when counted_orders.paid_at > fans.fan_started_at
                  and counted_orders.paid_at <= {{ dbt.dateadd('day', 30, 'fans.fan_started_at') }}
                  and counted_orders.domain = 'private'
            then counted_orders.gmv else 0 end) as gmv_30d_private,
        sum(case when counted_orders.paid_at > fans.fan_started_at
            then counted_orders.gmv else 0 end) as gmv_90d

    from fans

    inner join counted_orders
        on counted_orders.brand = fans.brand
        and counted_orders.buyer_id = fans.user_id

    -- Orders after the 90-day window matter to nothing here.
    where counted_orders.paid_at <= {{ dbt.dateadd('day', 90, 'fans.fan_started_at') }}

    group by
        fans.brand,
        fans.user_id

),

fan_values as (

    select
        fans.brand,
        fans.user_id,
        fans.fan_start_event_id,
        fans.fan_start_account_id,
        fans.fan_started_at,
        fans.follow_month,
        fans.acquisition_source,
        cast(coalesce(fan_orders.bought_before, 0) as {{ dbt.type_bigint() }}) as bought_before,
        cast(coalesce(fan_orders.bought_30d, 0) as {{ dbt.type_bigint() }}) as bought_30d,
        cast(coalesce(fan_orders.orders_30d, 0) as {{ dbt.type_bigint() }}) as orders_30d,
        {{ dw_money('coalesce(fan_orders.gmv_30d, 0)') }} as gmv_30d,
        {{ dw_money('coalesce(fan_orders.gmv_30d_private, 0)') }} as gmv_30d_private,
        {{ dw_money('coalesce(fan_orders.gmv_90d, 0)') }} as gmv_90d,
        fans.unfollowed_30d

    from fans

    left join fan_orders
        on fans.brand = fan_orders.brand
        and fans.user_id = fan_orders.user_id

)

select * from fan_values
