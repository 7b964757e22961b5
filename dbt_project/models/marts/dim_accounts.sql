-- grain: account_id — the accepted roster plus one row per unmapped account seen in the facts
with

roster as (

    select * from {{ ref('stg_accounts') }}

),

accounts_seen as (

    select * from {{ ref('int_accounts_seen') }}

),

mapped as (

    select
        account_id,
        account_name,
        brand,
        role,
        city,
        parent_account_id,
        opened_on

    from roster

),

unmapped as (

    select
        accounts_seen.account_id,
        cast(null as {{ dbt.type_string() }}) as account_name,
        {{ dw_unmapped() }} as brand,
        {{ dw_unmapped() }} as role,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as parent_account_id,
        cast(null as date) as opened_on

    from accounts_seen

    left join roster
        on accounts_seen.account_id = roster.account_id

    where roster.account_id is null

)

select * from mapped
union all
select * from unmapped
