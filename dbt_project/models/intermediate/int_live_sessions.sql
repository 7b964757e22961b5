-- grain: live_session_id — one row per session present in live_traffic, sources summed
with

traffic as (

    select * from {{ ref('stg_live_traffic') }}

),

traffic_sources as (

    select * from {{ ref('traffic_sources') }}

),

header_ranked as (

    -- Source rows of one session may disagree on account or times (a correction in a later
    -- export); the session takes its latest row.
    select
        live_session_id,
        account_id,
        started_at,
        ended_at,
        row_number() over (
            partition by live_session_id
            order by landing_date desc, source_file desc, source_row_number desc
        ) as header_rank

    from traffic

),

session_header as (

    select * from header_ranked
    where header_rank = 1

),

session_traffic as (

    select
        traffic.live_session_id,
        sum(traffic.viewers) as viewers,
        sum(
            case when coalesce(traffic_sources.domain, 'public') = 'private'
                then traffic.viewers else 0 end
        ) as viewers_private,
        sum(
            case when coalesce(traffic_sources.is_paid, false)
                then traffic.viewers else 0 end
        ) as viewers_paid,
        sum(traffic.watch_seconds) as watch_seconds

    from traffic

    left join traffic_sources
        on traffic.traffic_source = traffic_sources.traffic_source

    group by traffic.live_session_id

),

sessions as (

    select
        session_header.live_session_id,
        session_header.account_id,
        session_header.started_at,
        session_header.ended_at,
        cast(session_header.started_at as date) as started_date,
        -- Still-live sessions (no ended_at) have no duration yet.
        {{ dw_double(dbt.datediff('session_header.started_at', 'session_header.ended_at', 'second')) }} / 60.0
            as duration_minutes,
        cast(session_traffic.viewers as {{ dbt.type_bigint() }}) as viewers,
        cast(session_traffic.viewers_private as {{ dbt.type_bigint() }}) as viewers_private,
        cast(session_traffic.viewers_paid as {{ dbt.type_bigint() }}) as viewers_paid,
        {{ dw_double('session_traffic.watch_seconds') }} / 60.0 as watch_minutes

    from session_header

    inner join session_traffic
        on session_header.live_session_id = session_traffic.live_session_id

)

select * from sessions
