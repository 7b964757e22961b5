-- grain: order_id (the latest version of each order across every export it appeared in)
with

source as (

    select * from {{ source('raw', 'orders') }}

),

ranked as (

    select
        *,
        -- Later exports carry status updates and refunds. Ties on updated_at go to the later
        -- landing date, then the file name that sorts last, then the later row.
        row_number() over (
            partition by order_id
            order by
                updated_at desc,
                _landing_date desc,
                _source_file desc,
                _row_number desc
        ) as version_rank

    from source

),

renamed as (

    select
        order_id,
        buyer_id,
        account_id,
        live_session_id,
        traffic_source,
        product_id,
        category,
        cast(quantity as {{ dbt.type_bigint() }}) as quantity,
        {{ dw_money('gmv') }} as gmv,
        {{ dw_money('coalesce(refund_amount, 0)') }} as refund_amount,
        status,
        cast(paid_at as {{ dbt.type_timestamp() }}) as paid_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        _landing_date as landing_date,
        _source_file as source_file,
        _row_number as source_row_number

    from ranked

    where version_rank = 1

)

select * from renamed
