-- The live-commerce identity: gmv = viewers x avg_watch_minutes x (orders / watch_minutes) x aov,
-- wherever every factor is defined. Tolerance: half a fen, for double rounding.
select
    live_session_id,
    gmv,
    viewers * avg_watch_minutes * (orders / watch_minutes) * aov as rebuilt_gmv
from {{ ref('fct_live_session') }}
where viewers > 0
  and watch_minutes > 0
  and orders > 0
  and abs(cast(gmv as double) - viewers * avg_watch_minutes * (orders / watch_minutes) * aov) > 0.005
