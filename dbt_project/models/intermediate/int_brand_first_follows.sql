-- grain: (brand, user_id) — the earliest `follow` event of a user on any account of the brand
with

follows as (

    select * from {{ ref('stg_follows') }}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

first_follows as (

    -- Only the earliest follow matters: fans_by_t30 has no lower bound and a later unfollow
    -- does not cancel a follow, so unfollow events are deliberately ignored here.
    select
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        follows.user_id,
        min(follows.occurred_at) as first_followed_at

    from follows

    left join accounts
        on follows.account_id = accounts.account_id

    where follows.action = 'follow'

    group by
        coalesce(accounts.brand, {{ dw_unmapped() }}),
        follows.user_id

)

select * from first_follows
