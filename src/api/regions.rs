//! The Genesys Cloud regions (shared/genesys-api.md section 1.2): the one list the CRD's schema,
//! spec validation and the Genesys client all read.

/// The 18 regions as (SDK key, domain).
pub const REGIONS: [(&str, &str); 18] = [
    ("us_east_1", "mypurecloud.com"),
    ("us_east_2", "use2.us-gov-pure.cloud"),
    ("us_west_2", "usw2.pure.cloud"),
    ("ca_central_1", "cac1.pure.cloud"),
    ("sa_east_1", "sae1.pure.cloud"),
    ("mx_central_1", "mxc1.pure.cloud"),
    ("eu_west_1", "mypurecloud.ie"),
    ("eu_west_2", "euw2.pure.cloud"),
    ("eu_central_1", "mypurecloud.de"),
    ("eu_central_2", "euc2.pure.cloud"),
    ("eusc_de_east_1", "edee1.eusc-pure.cloud"),
    ("me_central_1", "mec1.pure.cloud"),
    ("ap_south_1", "aps1.pure.cloud"),
    ("ap_northeast_1", "mypurecloud.jp"),
    ("ap_northeast_2", "apne2.pure.cloud"),
    ("ap_northeast_3", "apne3.pure.cloud"),
    ("ap_southeast_1", "apse1.pure.cloud"),
    ("ap_southeast_2", "mypurecloud.com.au"),
];

/// The region domains, in the list's order (what the CRD accepts in `genesys.region`).
pub fn region_domains() -> impl Iterator<Item = &'static str> {
    REGIONS.iter().map(|(_, domain)| *domain)
}

/// The region domain for a domain (`mypurecloud.ie`, also `api.` or `login.` prefixed) or an SDK
/// key (`eu_west_1`).
pub fn region_domain(region: &str) -> Option<&'static str> {
    let region = region
        .trim()
        .trim_start_matches("api.")
        .trim_start_matches("login.");
    REGIONS
        .iter()
        .find(|(key, domain)| {
            key.eq_ignore_ascii_case(region) || domain.eq_ignore_ascii_case(region)
        })
        .map(|(_, d)| *d)
}
