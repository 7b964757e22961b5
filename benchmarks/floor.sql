-- The "floor": what a strong data engineer would hand-write in one DuckDB session instead of
-- adopting dualwheel. The eight marts of contract v2 (docs/contract.md section 4) straight from the
-- clean CSV exports: no validation, no quarantine, no audit, no orchestration, no tests, no
-- publishing. {landing} is substituted by benchmarks/floor.py. Types are declared, not sniffed.
--
-- One typed scan per export across all of its files, only the columns the marts use, the
-- contract's dedupe in the same statement as the scan (no raw copy), one counted-orders table that
-- already carries each buyer's T0, and marts built from those shared intermediates. The full path
-- of a file sorts by landing date first, then by file name, so `filename desc` is the contract's
-- tie-break (landing date, then name) without parsing the date out of 20M file names. Measured
-- against the previous version of this file at 10M orders (20.8M order rows): 58.1 -> 40.4 s,
-- peak RSS 10.8 -> 5.0 GB (benchmarks/results.md).

create or replace temp table accounts as
select * from read_csv('{landing}/accounts.csv', header = true, columns = {
    'account_id': 'varchar', 'account_name': 'varchar', 'brand': 'varchar', 'role': 'varchar',
    'city': 'varchar', 'parent_account_id': 'varchar', 'opened_on': 'date'})
qualify row_number() over (partition by account_id) = 1;

-- counted orders (contract section 4) with their brand and T0 (the brand-level first order)
create or replace temp table counted as
with latest as (
    select order_id, buyer_id, account_id, live_session_id, traffic_source, gmv, refund_amount,
           status, paid_at
    from read_csv('{landing}/*/orders*.csv', header = true, filename = true, columns = {
        'order_id': 'varchar', 'buyer_id': 'varchar', 'account_id': 'varchar',
        'live_session_id': 'varchar', 'traffic_source': 'varchar', 'product_id': 'varchar',
        'category': 'varchar', 'quantity': 'bigint', 'gmv': 'decimal(18,2)',
        'refund_amount': 'decimal(18,2)', 'status': 'varchar', 'paid_at': 'timestamp',
        'updated_at': 'timestamp'})
    qualify row_number() over (partition by order_id order by updated_at desc, filename desc) = 1
), c as (
    select o.order_id, o.buyer_id, o.account_id, o.live_session_id, o.traffic_source,
           coalesce(a.brand, '(unmapped)') as brand,
           case when o.traffic_source = 'follow' then 'private' else 'public' end as domain,
           o.traffic_source = 'paid' as is_paid,
           o.gmv, coalesce(o.refund_amount, 0) as refund_amount,
           o.gmv - coalesce(o.refund_amount, 0) as net_gmv,
           o.paid_at, cast(o.paid_at as date) as order_date,
           cast(date_trunc('month', o.paid_at) as date) as order_month
    from latest o left join accounts a using (account_id)
    where o.status <> 'cancelled' and o.paid_at is not null
)
select *, row_number() over w = 1 as is_t0, first_value(paid_at) over w as t0_paid_at
from c
window w as (partition by brand, buyer_id order by paid_at, order_id);

create or replace temp table t0 as
select brand, buyer_id, paid_at as t0_paid_at, cast(date_trunc('month', paid_at) as date) as cohort_month,
       domain as first_domain, gmv as t0_gmv
from counted where is_t0;

create or replace temp table follows as
select event_id, user_id, f.account_id, action, coalesce(traffic_source, 'other') as traffic_source,
       occurred_at, coalesce(a.brand, '(unmapped)') as brand
from read_csv('{landing}/*/follows*.csv', header = true, filename = true, columns = {
    'event_id': 'varchar', 'user_id': 'varchar', 'account_id': 'varchar', 'action': 'varchar',
    'traffic_source': 'varchar', 'live_session_id': 'varchar', 'occurred_at': 'timestamp'}) f
left join accounts a using (account_id)
qualify row_number() over (partition by event_id order by filename) = 1;

create or replace temp table sessions as
with traffic as (
    select * from read_csv('{landing}/*/live_traffic*.csv', header = true, filename = true, columns = {
        'live_session_id': 'varchar', 'account_id': 'varchar', 'started_at': 'timestamp',
        'ended_at': 'timestamp', 'traffic_source': 'varchar', 'viewers': 'bigint',
        'watch_seconds': 'bigint'})
    qualify row_number() over (partition by live_session_id, traffic_source order by filename desc) = 1
)
select live_session_id,
       arg_max(account_id, filename) as account_id, arg_max(started_at, filename) as started_at,
       arg_max_null(ended_at, filename) as ended_at,
       cast(arg_max(started_at, filename) as date) as started_date,
       date_diff('second', arg_max(started_at, filename), arg_max_null(ended_at, filename)) / 60.0 as duration_minutes,
       sum(viewers) as viewers,
       coalesce(sum(viewers) filter (where traffic_source = 'follow'), 0) as viewers_private,
       coalesce(sum(viewers) filter (where traffic_source = 'paid'), 0) as viewers_paid,
       sum(watch_seconds) / 60.0 as watch_minutes
from traffic group by live_session_id;

-- the seven marts ------------------------------------------------------------------------------
create schema if not exists marts;

create or replace table marts.dim_accounts as
with seen as (
    select account_id from counted union select account_id from follows
    union select account_id from sessions
)
select account_id, account_name, brand, role, city, parent_account_id, opened_on from accounts
union all
select s.account_id, null, '(unmapped)', '(unmapped)', null, null, null
from seen s anti join accounts a using (account_id);

create or replace table marts.fct_gmv_by_source_daily as
select order_date, account_id, traffic_source, domain, is_paid, count(*) as orders,
       count(distinct buyer_id) as buyers, sum(gmv) as gmv, sum(refund_amount) as refund_amount,
       sum(net_gmv) as net_gmv
from counted group by all;

create or replace table marts.fct_dual_wheel_daily as
with d as (
    select c.order_date, c.account_id, c.brand, count(*) as orders,
           count(distinct c.buyer_id) as buyers,
           count(distinct c.buyer_id) filter (where c.is_t0) as new_buyers,
           sum(c.gmv) as gmv, sum(c.refund_amount) as refund_amount, sum(c.net_gmv) as net_gmv,
           coalesce(sum(c.gmv) filter (where c.domain = 'private'), 0) as gmv_private,
           coalesce(sum(c.gmv) filter (where c.domain = 'public'), 0) as gmv_public,
           coalesce(sum(c.gmv) filter (where c.domain = 'public' and c.is_paid), 0) as gmv_public_paid
    from counted c
    group by all
)
select *, buyers - new_buyers as returning_buyers, gmv_public - gmv_public_paid as gmv_public_organic,
       gmv_private / nullif(gmv, 0) as private_share,
       (gmv - gmv_public_paid) / nullif(gmv, 0) as organic_share
from d;

create or replace table marts.fct_cohort_repurchase as
with rep as (
    select brand, buyer_id,
           max(paid_at <= t0_paid_at + interval 30 day)::int as r30,
           max(paid_at <= t0_paid_at + interval 60 day)::int as r60,
           1 as r90,
           count(*) filter (where paid_at <= t0_paid_at + interval 30 day) as o30,
           coalesce(sum(gmv) filter (where paid_at <= t0_paid_at + interval 30 day), 0) as g30,
           coalesce(sum(gmv) filter (where paid_at <= t0_paid_at + interval 30 day and domain = 'private'), 0) as g30p
    from counted where paid_at > t0_paid_at and paid_at <= t0_paid_at + interval 90 day
    group by all
), ff as (
    select brand, user_id, min(occurred_at) as first_follow
    from follows where action = 'follow' group by all
), horizon as (select max(order_date) as h from counted)
select t0.brand, t0.cohort_month, t0.first_domain, count(*) as cohort_buyers,
       sum(t0.t0_gmv) as t0_gmv,
       count(*) filter (where ff.first_follow <= t0.t0_paid_at + interval 30 day) as fans_by_t30,
       coalesce(sum(r30), 0) as repurchasers_30d, coalesce(sum(r60), 0) as repurchasers_60d,
       coalesce(sum(r90), 0) as repurchasers_90d, coalesce(sum(o30), 0) as repurchase_orders_30d,
       coalesce(sum(g30), 0) as repurchase_gmv_30d, coalesce(sum(g30p), 0) as repurchase_gmv_30d_private,
       coalesce(sum(r30), 0) / count(*) as repurchase_rate_30d,
       coalesce(sum(r90), 0) / count(*) as repurchase_rate_90d,
       last_day(t0.cohort_month) + 30 <= any_value(horizon.h) as window_30d_complete
from t0
left join ff on ff.brand = t0.brand and ff.user_id = t0.buyer_id
left join rep on rep.brand = t0.brand and rep.buyer_id = t0.buyer_id
cross join horizon
group by t0.brand, t0.cohort_month, t0.first_domain;

create or replace table marts.fct_cohort_retention_monthly as
select brand, cast(date_trunc('month', t0_paid_at) as date) as cohort_month,
       date_diff('month', cast(date_trunc('month', t0_paid_at) as date), order_month) as months_since_first,
       count(distinct buyer_id) as active_buyers, count(*) as orders, sum(gmv) as gmv
from counted
group by all;

create or replace table marts.fct_account_matrix_daily as
with od as (
    select order_date as d, account_id, count(*) as orders, count(distinct buyer_id) as buyers,
           sum(gmv) as gmv, sum(refund_amount) as refund_amount,
           coalesce(sum(gmv) filter (where domain = 'private'), 0) as gmv_private
    from counted group by all
), ld as (
    select started_date as d, account_id, count(*) as live_sessions,
           sum(coalesce(duration_minutes, 0)) as live_minutes, sum(viewers) as viewers,
           sum(watch_minutes) as watch_minutes, sum(viewers_paid) as viewers_paid
    from sessions group by all
), fd as (
    select cast(occurred_at as date) as d, account_id,
           count(*) filter (where action = 'follow') as new_follows,
           count(*) filter (where action = 'unfollow') as unfollows,
           count(*) filter (where action = 'follow' and traffic_source = 'paid') as new_follows_paid
    from follows group by all
), days as (
    select d, account_id from od union select d, account_id from ld union select d, account_id from fd
), j as (
    select days.d as activity_date, days.account_id, a.account_name,
           coalesce(a.brand, '(unmapped)') as brand, coalesce(a.role, '(unmapped)') as role, a.city,
           coalesce(ld.live_sessions, 0) as live_sessions, coalesce(ld.live_minutes, 0) as live_minutes,
           coalesce(ld.viewers, 0) as viewers, coalesce(ld.watch_minutes, 0) as watch_minutes,
           coalesce(od.orders, 0) as orders, coalesce(od.buyers, 0) as buyers,
           coalesce(od.gmv, 0) as gmv, coalesce(od.refund_amount, 0) as refund_amount,
           coalesce(od.gmv_private, 0) as gmv_private,
           coalesce(fd.new_follows, 0) as new_follows, coalesce(fd.unfollows, 0) as unfollows,
           coalesce(ld.viewers_paid, 0) as viewers_paid, coalesce(fd.new_follows_paid, 0) as new_follows_paid
    from days
    left join marts.dim_accounts a on a.account_id = days.account_id
    left join od on od.d = days.d and od.account_id = days.account_id
    left join ld on ld.d = days.d and ld.account_id = days.account_id
    left join fd on fd.d = days.d and fd.account_id = days.account_id
)
select *, new_follows - unfollows as net_follows,
       gmv * 1000 / nullif(viewers, 0) as gpm, gmv / nullif(viewers, 0) as uv_value,
       gmv / nullif(orders, 0) as aov, gmv / nullif(buyers, 0) as gmv_per_buyer,
       refund_amount / nullif(gmv, 0) as refund_rate,
       gmv / nullif(sum(gmv) over (partition by activity_date, brand), 0) as brand_gmv_share,
       (viewers - viewers_paid) / nullif(viewers, 0) as organic_viewer_share
from j;

create or replace table marts.fct_live_session as
with so as (
    select live_session_id, count(*) as orders, count(distinct buyer_id) as buyers, sum(gmv) as gmv,
           coalesce(sum(gmv) filter (where domain = 'private'), 0) as gmv_private
    from counted where live_session_id is not null group by all
), j as (
    select s.live_session_id, s.account_id, coalesce(a.brand, '(unmapped)') as brand, s.started_at,
           s.ended_at, s.duration_minutes, s.viewers, s.viewers_private, s.viewers_paid,
           s.watch_minutes, coalesce(so.orders, 0) as orders, coalesce(so.buyers, 0) as buyers,
           coalesce(so.gmv, 0) as gmv, coalesce(so.gmv_private, 0) as gmv_private
    from sessions s
    left join marts.dim_accounts a on a.account_id = s.account_id
    left join so on so.live_session_id = s.live_session_id
)
select *, watch_minutes / nullif(viewers, 0) as avg_watch_minutes,
       orders * 60 / nullif(watch_minutes, 0) as orders_per_watch_hour,
       gmv / nullif(orders, 0) as aov, gmv / nullif(buyers, 0) as gmv_per_buyer,
       gmv / nullif(viewers, 0) as uv_value, gmv * 1000 / nullif(viewers, 0) as gpm,
       (viewers - viewers_paid) / nullif(viewers, 0) as organic_viewer_share
from j;

-- fan value: the first follow per (brand, user), what the fan bought around it, 取关 on that account
create or replace table marts.fct_fan_cohort as
with fb as (select * from follows), starts as (
    select brand, user_id, account_id, occurred_at as s, traffic_source as acquisition_source,
           cast(date_trunc('month', occurred_at) as date) as follow_month
    from fb where action = 'follow'
    qualify row_number() over (partition by brand, user_id order by occurred_at, event_id) = 1
), bought as (
    select st.brand, st.user_id,
           max(c.paid_at <= st.s)::int as bb,
           max(c.paid_at > st.s and c.paid_at <= st.s + interval 30 day)::int as b30,
           count(*) filter (where c.paid_at > st.s and c.paid_at <= st.s + interval 30 day) as o30,
           coalesce(sum(c.gmv) filter (where c.paid_at > st.s and c.paid_at <= st.s + interval 30 day), 0) as g30,
           coalesce(sum(c.gmv) filter (where c.paid_at > st.s and c.paid_at <= st.s + interval 30 day
                                         and c.domain = 'private'), 0) as g30p,
           coalesce(sum(c.gmv) filter (where c.paid_at > st.s), 0) as g90
    from starts st join counted c on c.brand = st.brand and c.buyer_id = st.user_id
    where c.paid_at <= st.s + interval 90 day
    group by all
), unf as (
    select distinct st.brand, st.user_id
    from starts st join fb u on u.user_id = st.user_id and u.account_id = st.account_id
    where u.action = 'unfollow' and u.occurred_at > st.s and u.occurred_at <= st.s + interval 30 day
), horizon as (select max(order_date) as h from counted)
select st.brand, st.follow_month, st.acquisition_source, count(*) as new_fans,
       coalesce(sum(b.bb), 0) as fans_bought_before, coalesce(sum(b.b30), 0) as fans_buying_30d,
       coalesce(sum(b.o30), 0) as fan_orders_30d, coalesce(sum(b.g30), 0) as fan_gmv_30d,
       coalesce(sum(b.g30p), 0) as fan_gmv_30d_private, coalesce(sum(b.g90), 0) as fan_gmv_90d,
       count(unf.user_id) as unfollowed_30d,
       coalesce(sum(b.b30), 0) / count(*) as purchase_rate_30d,
       count(unf.user_id) / count(*) as unfollow_rate_30d,
       coalesce(sum(b.g30), 0) / count(*) as gmv_per_fan_30d,
       sum(b.g30p) / nullif(sum(b.g30), 0) as private_share_30d,
       coalesce(last_day(st.follow_month) + 30 <= any_value(horizon.h), false) as window_30d_complete,
       coalesce(last_day(st.follow_month) + 90 <= any_value(horizon.h), false) as window_90d_complete
from starts st
left join bought b on b.brand = st.brand and b.user_id = st.user_id
left join unf on unf.brand = st.brand and unf.user_id = st.user_id
cross join horizon
group by st.brand, st.follow_month, st.acquisition_source;
