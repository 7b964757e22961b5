-- grain: (activity_date, account_id) — any live session started, counted order, or follow/unfollow
{#
  Incremental by activity_date: live figures count on the start date, orders on order_date,
  follows on the event date, and brand_gmv_share is same-date, so a date reads nothing outside
  itself. Affected dates: int_affected_activity_dates. Names/brands come from dim_accounts,
  which only a roster change alters (a full scope).
#}
{# on_schema_change: contract v2 appended viewers_paid, organic_viewer_share and new_follows_paid; a warehouse built before gets
   the column(s) added (the changed code makes that run full-scope, so every row is rewritten)
   instead of failing the run. #}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook="{{ dw_delete_affected('activity_date', ref('int_affected_activity_dates'), 'activity_date') }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_activity_dates') }}
{%- set partial = dw_is_partial_refresh() %}
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

counted_orders as (

    select * from {{ ref('int_orders_counted') }}
    {% if partial %}
    where order_date in (select activity_date from {{ ref('int_affected_activity_dates') }})
    {% endif %}

),

live_sessions as (

    select * from {{ ref('int_live_sessions') }}
    {% if partial %}
    where started_date in (select activity_date from {{ ref('int_affected_activity_dates') }})
    {% endif %}

),

follows_daily as (

    select * from {{ ref('int_follows_daily') }}
    {% if partial %}
    where activity_date in (select activity_date from {{ ref('int_affected_activity_dates') }})
    {% endif %}

),

orders_daily as (

    select
        order_date as activity_date,
        account_id,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        sum(gmv) as gmv,
        sum(refund_amount) as refund_amount,
        sum(case when domain = 'private' then gmv else 0 end) as gmv_private

    from counted_orders

    group by
        order_date,
        account_id

),

live_daily as (

    -- A session counts entirely on the local date it started, even if it runs past midnight.
    select
        started_date as activity_date,
        account_id,
        count(*) as live_sessions,
        sum(coalesce(duration_minutes, 0)) as live_minutes,
        sum(viewers) as viewers,
        sum(viewers_paid) as viewers_paid,
        sum(watch_minutes) as watch_minutes

    from live_sessions

    group by
        started_date,
        account_id

),

account_days as (

    select activity_date, account_id from orders_daily
    union
    select activity_date, account_id from live_daily
    union
    select activity_date, account_id from follows_daily

),

joined as (

    select
        account_days.activity_date,
        account_days.account_id,
        accounts.account_name,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        coalesce(accounts.role, {{ dw_unmapped() }}) as role,
        accounts.city,
        coalesce(live_daily.live_sessions, 0) as live_sessions,
        coalesce(live_daily.live_minutes, 0) as live_minutes,
        coalesce(live_daily.viewers, 0) as viewers,
        coalesce(live_daily.watch_minutes, 0) as watch_minutes,
        coalesce(orders_daily.orders, 0) as orders,
        coalesce(orders_daily.buyers, 0) as buyers,
        coalesce(orders_daily.gmv, 0) as gmv,
        coalesce(orders_daily.refund_amount, 0) as refund_amount,
        coalesce(orders_daily.gmv_private, 0) as gmv_private,
        coalesce(follows_daily.new_follows, 0) as new_follows,
        coalesce(follows_daily.unfollows, 0) as unfollows,
        coalesce(live_daily.viewers_paid, 0) as viewers_paid,
        coalesce(follows_daily.new_follows_paid, 0) as new_follows_paid

    from account_days

    left join accounts
        on account_days.account_id = accounts.account_id

    left join orders_daily
        on account_days.activity_date = orders_daily.activity_date
        and account_days.account_id = orders_daily.account_id

    left join live_daily
        on account_days.activity_date = live_daily.activity_date
        and account_days.account_id = live_daily.account_id

    left join follows_daily
        on account_days.activity_date = follows_daily.activity_date
        and account_days.account_id = follows_daily.account_id

),

with_brand_totals as (

    select
        *,
        sum(gmv) over (partition by activity_date, brand) as brand_gmv

    from joined

)

select
    activity_date,
    account_id,
    account_name,
    brand,
    role,
    city,
    cast(live_sessions as {{ dbt.type_bigint() }}) as live_sessions,
    {{ dw_double('live_minutes') }} as live_minutes,
    cast(viewers as {{ dbt.type_bigint() }}) as viewers,
    {{ dw_double('watch_minutes') }} as watch_minutes,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(buyers as {{ dbt.type_bigint() }}) as buyers,
    {{ dw_money('gmv') }} as gmv,
    {{ dw_money('refund_amount') }} as refund_amount,
    {{ dw_money('gmv_private') }} as gmv_private,
    cast(new_follows as {{ dbt.type_bigint() }}) as new_follows,
    cast(unfollows as {{ dbt.type_bigint() }}) as unfollows,
    cast(new_follows - unfollows as {{ dbt.type_bigint() }}) as net_follows,
    {{ dw_ratio('gmv * 1000', 'viewers') }} as gpm,
    {{ dw_ratio('gmv', 'viewers') }} as uv_value,
    {{ dw_ratio('gmv', 'orders') }} as aov,
    {{ dw_ratio('gmv', 'buyers') }} as gmv_per_buyer,
    {{ dw_ratio('refund_amount', 'gmv') }} as refund_rate,
    {{ dw_ratio('gmv', 'brand_gmv') }} as brand_gmv_share,
    cast(viewers_paid as {{ dbt.type_bigint() }}) as viewers_paid,
    -- 自然流量占比: the 14% -> 36% a paid push can leave behind once its new fans come back.
    {{ dw_ratio('viewers - viewers_paid', 'viewers') }} as organic_viewer_share,
    cast(new_follows_paid as {{ dbt.type_bigint() }}) as new_follows_paid
from with_brand_totals
