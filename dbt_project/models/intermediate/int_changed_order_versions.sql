-- grain: one row per raw version (file row) of every order_id that appears in a changed file, with all its raw columns
{#
  Every version, not only the new one: the dates, sessions and buyers an order fed at the last
  build come from its old winning version, which is still in raw.orders (a file that replaced
  its rows forces a full scope instead). Empty on a full-scope run, where nothing reads it.
#}
-- depends_on: {{ ref('int_refresh_scope') }}
-- raw.orders is named in each subquery rather than in a shared CTE: DuckDB materializes a CTE
-- used twice, i.e. copies all of raw.orders (0.2-0.4 s at 1M orders) before filtering it.
with

changed_files as (

    select * from {{ ref('int_changed_files') }}
    where export = 'orders'

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

changed_order_ids as (

    select distinct raw_orders.order_id
    from {{ source('raw', 'orders') }} as raw_orders
    -- Both predicates on purpose: _landing_date lets DuckDB skip row groups by their min/max
    -- (raw rows are appended file by file), _source_file is the exact test.
    where raw_orders._landing_date in (select landing_date from changed_files)
      and raw_orders._source_file in (select source_file from changed_files)

),

versions as (

    -- Every raw column: int_orders_counted re-deduplicates these versions from here instead of
    -- scanning raw.orders for them a second time (~0.4 s of a 10M-order nightly run).
    select
        raw_orders.*,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        cast(raw_orders.paid_at as date) as paid_date

    from {{ source('raw', 'orders') }} as raw_orders

    left join accounts
        on raw_orders.account_id = accounts.account_id

    where {{ dw_key_in(source('raw', 'orders'), 'raw_orders', 'order_id', 'changed_order_ids') }}

)

select * from versions
{% if dw_scope_is_full() %}
where 1 = 0
{% endif %}
