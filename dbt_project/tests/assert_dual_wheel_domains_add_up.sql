-- The two wheels partition GMV: private + public = gmv, organic + paid = public,
-- and buyers split into new + returning.
select *
from {{ ref('fct_dual_wheel_daily') }}
where gmv_private + gmv_public <> gmv
   or gmv_public_organic + gmv_public_paid <> gmv_public
   or new_buyers + returning_buyers <> buyers
   or new_buyers > buyers
