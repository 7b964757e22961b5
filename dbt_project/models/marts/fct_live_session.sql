-- grain: live_session_id (sessions present in live_traffic)
{#
  Incremental by live_session_id: sessions in changed live_traffic files and sessions named by
  any version of a changed order (int_affected_live_sessions).
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected('live_session_id', ref('int_affected_live_sessions'), 'live_session_id') }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_affected_live_sessions') }}
{%- set partial = dw_is_partial_refresh() %}
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

live_sessions as (

    select * from {{ ref('int_live_sessions') }}
    {% if partial %}
    where live_session_id in (select live_session_id from {{ ref('int_affected_live_sessions') }})
    {% endif %}

),

counted_orders as (

    select * from {{ ref('int_orders_counted') }}
    {% if partial %}
    where live_session_id in (select live_session_id from {{ ref('int_affected_live_sessions') }})
    {% endif %}

),

session_orders as (

    -- Attributed by the order's live_session_id, whichever account the order was booked on.
    select
        live_session_id,
        count(*) as orders,
        count(distinct buyer_id) as buyers,
        sum(gmv) as gmv,
        sum(case when domain = 'private' then gmv else 0 end) as gmv_private

    from counted_orders

    where live_session_id is not null

    group by live_session_id

),

joined as (

    select
        live_sessions.live_session_id,
        live_sessions.account_id,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        live_sessions.started_at,
        live_sessions.ended_at,
        live_sessions.duration_minutes,
        live_sessions.viewers,
        live_sessions.viewers_private,
        live_sessions.viewers_paid,
        live_sessions.watch_minutes,
        coalesce(session_orders.orders, 0) as orders,
        coalesce(session_orders.buyers, 0) as buyers,
        coalesce(session_orders.gmv, 0) as gmv,
        coalesce(session_orders.gmv_private, 0) as gmv_private

    from live_sessions

    left join accounts
        on live_sessions.account_id = accounts.account_id

    left join session_orders
        on live_sessions.live_session_id = session_orders.live_session_id

)

select
    live_session_id,
    account_id,
    brand,
    cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
    cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
    {{ dw_double('duration_minutes') }} as duration_minutes,
    cast(viewers as {{ dbt.type_bigint() }}) as viewers,
    cast(viewers_private as {{ dbt.type_bigint() }}) as viewers_private,
    cast(viewers_paid as {{ dbt.type_bigint() }}) as viewers_paid,
    {{ dw_double('watch_minutes') }} as watch_minutes,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(buyers as {{ dbt.type_bigint() }}) as buyers,
    {{ dw_money('gmv') }} as gmv,
    {{ dw_money('gmv_private') }} as gmv_private,
    {{ dw_ratio('watch_minutes', 'viewers') }} as avg_watch_minutes,
    {{ dw_ratio('orders * 60', 'watch_minutes') }} as orders_per_watch_hour,
    {{ dw_ratio('gmv', 'orders') }} as aov,
    {{ dw_ratio('gmv', 'buyers') }} as gmv_per_buyer,
    {{ dw_ratio('gmv', 'viewers') }} as uv_value,
    {{ dw_ratio('gmv * 1000', 'viewers') }} as gpm,
    {{ dw_ratio('viewers - viewers_paid', 'viewers') }} as organic_viewer_share
from joined
