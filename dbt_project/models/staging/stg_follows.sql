-- grain: event_id (the first occurrence of each follow/unfollow event)
with

source as (

    select * from {{ source('raw', 'follows') }}

),

ranked as (

    select
        *,
        -- A repeated event is the same fact exported twice: the first copy wins
        -- (earlier landing date, files in name order, rows in file order).
        row_number() over (
            partition by event_id
            order by _landing_date, _source_file, _row_number
        ) as copy_rank

    from source

),

renamed as (

    select
        event_id,
        user_id,
        account_id,
        action,
        coalesce(traffic_source, 'other') as traffic_source,
        live_session_id,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        _landing_date as landing_date,
        _source_file as source_file,
        _row_number as source_row_number

    from ranked

    where copy_rank = 1

)

select * from renamed
