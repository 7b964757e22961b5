-- grain: account_id (the accepted roster; a repeated account_id keeps its first row)
with

source as (

    select * from {{ source('raw', 'accounts') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by account_id
            order by _row_number, _source_file
        ) as roster_rank

    from source

),

renamed as (

    select
        account_id,
        account_name,
        brand,
        role,
        city,
        parent_account_id,
        cast(opened_on as date) as opened_on,
        _source_file as source_file,
        _row_number as source_row_number

    from ranked

    where roster_rank = 1

)

select * from renamed
