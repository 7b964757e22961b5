-- grain: (activity_date, account_id) — follow and unfollow counts per account and local date
with

follows as (

    select * from {{ ref('stg_follows') }}

),

daily as (

    select
        cast(occurred_at as date) as activity_date,
        account_id,
        sum(case when action = 'follow' then 1 else 0 end) as new_follows,
        sum(case when action = 'unfollow' then 1 else 0 end) as unfollows

    from follows

    group by
        cast(occurred_at as date),
        account_id

)

select
    activity_date,
    account_id,
    cast(new_follows as {{ dbt.type_bigint() }}) as new_follows,
    cast(unfollows as {{ dbt.type_bigint() }}) as unfollows
from daily
