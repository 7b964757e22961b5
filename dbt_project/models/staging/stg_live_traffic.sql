-- grain: (live_session_id, traffic_source), taken from the latest landing date that reported it
with

source as (

    select * from {{ source('raw', 'live_traffic') }}

),

ranked as (

    select
        *,
        -- A session is re-exported while its numbers grow; the latest export is the truth.
        -- Ties (same landing date) go to the file name that sorts last, then the later row.
        row_number() over (
            partition by live_session_id, traffic_source
            order by _landing_date desc, _source_file desc, _row_number desc
        ) as export_rank

    from source

),

renamed as (

    select
        live_session_id,
        traffic_source,
        account_id,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        cast(viewers as {{ dbt.type_bigint() }}) as viewers,
        cast(watch_seconds as {{ dbt.type_bigint() }}) as watch_seconds,
        -- Kept so int_live_sessions can pick one header row per session.
        _landing_date as landing_date,
        _source_file as source_file,
        _row_number as source_row_number

    from ranked

    where export_rank = 1

)

select * from renamed
