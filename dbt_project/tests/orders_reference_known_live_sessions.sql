-- An order carrying a live_session_id that live_traffic never reported still counts everywhere
-- except fct_live_session; warn so the missing traffic export gets noticed.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_orders_counted'}}}) }}

select
    counted_orders.order_id,
    counted_orders.live_session_id
from {{ ref('int_orders_counted') }} as counted_orders
left join {{ ref('int_live_sessions') }} as live_sessions
    on counted_orders.live_session_id = live_sessions.live_session_id
where counted_orders.live_session_id is not null
  and live_sessions.live_session_id is null
