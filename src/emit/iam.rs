//! iam: the IAM policy the function needs to read its bundles.
//!
//! Input: the bucket and prefix. Output: `iam-policy.json`'s document.

use super::EmitOptions;

pub(super) fn iam_policy(options: &EmitOptions) -> serde_json::Value {
    let bucket = options.bucket.as_deref().unwrap_or("YOUR-BUCKET");
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "CaiosPackBundles",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:aws:s3:::{bucket}/{}*", options.prefix)],
        }],
    })
}
