-- GMV = viewers × avg watch minutes × orders per watch minute × AOV, for the top sessions.
select live_session_id, account_id, started_at,
       viewers, avg_watch_minutes, orders_per_watch_hour, aov, gmv,
       viewers * avg_watch_minutes * (orders_per_watch_hour / 60) * aov as gmv_rebuilt
from marts.fct_live_session
order by gmv desc
limit 20;
