-- grain: order_id (counted orders only: not cancelled and paid)
{#
  Incremental by order_id: a partial run re-deduplicates only the order_ids seen in changed
  files (across ALL their raw versions), deletes those ids and inserts the ones still counted
  (a newly cancelled order is deleted and not re-inserted). Full scope: every row.
#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ dw_delete_affected('order_id', ref('int_changed_order_versions'), 'order_id') }}"
) }}
-- depends_on: {{ ref('int_refresh_scope') }}
-- depends_on: {{ ref('int_changed_order_versions') }}
-- depends_on: {{ source('raw', 'orders') }}
with

orders as (

    {% if dw_is_partial_refresh() %}
    -- stg_orders' dedupe over all raw versions of the changed order_ids only, which
    -- int_changed_order_versions holds with every raw column (see macros/staging.sql for why
    -- not `stg_orders where order_id in (...)`).
    {{ dw_latest_order_versions(ref('int_changed_order_versions')) | indent(4) }}
    {% else %}
    select * from {{ ref('stg_orders') }}
    {% endif %}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

traffic_sources as (

    select * from {{ ref('traffic_sources') }}

),

counted as (

    select * from orders
    -- A refunded order still counts: its refund is reported on the paid date.
    where status <> 'cancelled'
      and paid_at is not null

),

enriched as (

    select
        counted.order_id,
        counted.buyer_id,
        counted.account_id,
        coalesce(accounts.brand, {{ dw_unmapped() }}) as brand,
        coalesce(accounts.role, {{ dw_unmapped() }}) as role,
        counted.live_session_id,
        counted.traffic_source,
        -- A source missing from the seed falls back to the contract's default mapping.
        coalesce(
            traffic_sources.domain,
            case when counted.traffic_source = 'follow' then 'private' else 'public' end
        ) as domain,
        coalesce(traffic_sources.is_paid, counted.traffic_source = 'paid') as is_paid,
        counted.status,
        counted.gmv,
        counted.refund_amount,
        {{ dw_money('counted.gmv - counted.refund_amount') }} as net_gmv,
        counted.paid_at,
        cast(counted.paid_at as date) as order_date,
        cast({{ dbt.date_trunc('month', 'counted.paid_at') }} as date) as order_month

    from counted

    left join accounts
        on counted.account_id = accounts.account_id

    left join traffic_sources
        on counted.traffic_source = traffic_sources.traffic_source

)

select * from enriched
