-- grain: account_id — every account seen in counted orders, follows or live sessions
with

counted_orders as (

    select * from {{ ref('int_orders_counted') }}

),

follows as (

    -- Every winning follow/unfollow event is counted in int_follows_daily, so its accounts are
    -- the accounts of stg_follows, without re-ranking every event each run.
    select * from {{ ref('int_follows_daily') }}

),

live_sessions as (

    select * from {{ ref('int_live_sessions') }}

),

seen as (

    select account_id from counted_orders
    union
    select account_id from follows
    union
    select account_id from live_sessions

)

select account_id from seen
