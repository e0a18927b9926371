//! Blue's launch template, and the new version of it that green boots.

use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use poolshift_provider_api::{CreateToken, ErrorKind, PoolSpec, ProviderError};

use super::AsgProvider;
use crate::errors::sdk_error;
use crate::images::rewrite_label;
use crate::token_for;

/// Blue's launch template as the group references it.
pub(super) struct TemplateRef {
    pub(super) id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) version: String,
}

impl TemplateRef {
    pub(super) fn label(&self) -> String {
        self.id.clone().or_else(|| self.name.clone()).unwrap_or_else(|| "?".into())
    }
}

pub(super) fn version_description(green: &str) -> String {
    format!("poolshift:{green}")
}

impl AsgProvider {
    pub(super) fn template_of(&self, op: &str, g: &AutoScalingGroup) -> Result<TemplateRef, ProviderError> {
        let spec = g.launch_template().or_else(|| {
            g.mixed_instances_policy().and_then(|m| m.launch_template()).and_then(|l| l.launch_template_specification())
        });
        match spec {
            Some(s) => Ok(TemplateRef {
                id: s.launch_template_id().map(str::to_string),
                name: s.launch_template_name().map(str::to_string),
                version: s.version().unwrap_or("$Default").to_string(),
            }),
            None => Err(self
                .err(
                    op,
                    ErrorKind::Invalid,
                    format!(
                        "Auto Scaling group {} has no launch template (launch configurations cannot carry a new image)",
                        g.auto_scaling_group_name().unwrap_or("?")
                    ),
                )
                .with_hint("move the group to a launch template, then resume")),
        }
    }

    /// One version of a launch template (numbers, `$Latest`, `$Default`).
    pub(super) async fn template_version(
        &self,
        op: &str,
        t: &TemplateRef,
        version: &str,
    ) -> Result<aws_sdk_ec2::types::LaunchTemplateVersion, ProviderError> {
        let out = self
            .ec2
            .describe_launch_template_versions()
            .set_launch_template_id(t.id.clone())
            .set_launch_template_name(if t.id.is_some() { None } else { t.name.clone() })
            .versions(version)
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        out.launch_template_versions().first().cloned().ok_or_else(|| {
            self.err(op, ErrorKind::NotFound, format!("launch template {} has no version {version}", t.label()))
        })
    }

    /// The version poolshift created earlier for `green`, found by its description.
    pub(super) async fn find_green_version(
        &self,
        op: &str,
        t: &TemplateRef,
        green: &str,
    ) -> Result<Option<i64>, ProviderError> {
        let want = version_description(green);
        let mut token = None;
        loop {
            let out = self
                .ec2
                .describe_launch_template_versions()
                .set_launch_template_id(t.id.clone())
                .set_launch_template_name(if t.id.is_some() { None } else { t.name.clone() })
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(&self.aws, op, &e))?;
            if let Some(v) = out
                .launch_template_versions()
                .iter()
                .find(|v| v.version_description() == Some(want.as_str()))
                .and_then(|v| v.version_number())
            {
                return Ok(Some(v));
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(None),
            }
        }
    }

    /// Blue's launch template version with the new image (and the pool label rewritten), created once.
    pub(super) async fn green_template_version(
        &self,
        blue: &AutoScalingGroup,
        blue_pool: &str,
        spec: &PoolSpec,
        image: &str,
        token: &CreateToken,
    ) -> Result<(TemplateRef, i64), ProviderError> {
        let op = "create";
        let t = self.template_of(op, blue)?;
        if let Some(v) = self.find_green_version(op, &t, &spec.name).await? {
            return Ok((t, v));
        }
        let source = self.template_version(op, &t, &t.version).await?;
        let source_number = source.version_number().map(|n| n.to_string()).unwrap_or_else(|| t.version.clone());
        let mut data = RequestLaunchTemplateData::builder().image_id(image);
        if let Some(ud) = source.launch_template_data().and_then(|d| d.user_data()) {
            data = data.user_data(self.rewrite_user_data(ud, blue_pool, &spec.name)?);
        }
        let out = self
            .ec2
            .create_launch_template_version()
            .set_launch_template_id(source.launch_template_id().map(str::to_string).or(t.id.clone()))
            .set_launch_template_name(if source.launch_template_id().is_some() || t.id.is_some() {
                None
            } else {
                t.name.clone()
            })
            .source_version(source_number)
            .version_description(version_description(&spec.name))
            .client_token(token_for(&self.cluster, &spec.name, token))
            .launch_template_data(data.build())
            .send()
            .await
            .map_err(|e| sdk_error(&self.aws, op, &e))?;
        let created = out.launch_template_version();
        let number = created.and_then(|v| v.version_number()).ok_or_else(|| {
            self.err(op, ErrorKind::Failed, "CreateLaunchTemplateVersion answered without a version number")
        })?;
        let id = created.and_then(|v| v.launch_template_id()).map(str::to_string).or(t.id.clone());
        Ok((TemplateRef { id, name: t.name.clone(), version: number.to_string() }, number))
    }

    pub(super) fn rewrite_user_data(&self, ud: &str, blue: &str, green: &str) -> Result<String, ProviderError> {
        let bytes = aws_smithy_types::base64::decode(ud).map_err(|e| {
            self.err("create", ErrorKind::Invalid, format!("blue's launch template user data is not base64: {e}"))
        })?;
        let unrecognised = |why: &str| {
            self.err(
                "create",
                ErrorKind::Invalid,
                format!("blue's user data {why}: green nodes would carry {}={blue}, not {green}", self.node_label),
            )
            .with_hint(format!(
                "the bootstrap must set the node label {}=<pool> in plain (not gzip) user data; set provider.node_label \
                 to the label it sets",
                self.node_label
            ))
        };
        if bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(unrecognised("is gzip-compressed"));
        }
        let text = String::from_utf8(bytes).map_err(|_| unrecognised("is not text"))?;
        let out = rewrite_label(&text, &self.node_label, blue, green)
            .ok_or_else(|| unrecognised(&format!("does not set {}={blue}", self.node_label)))?;
        Ok(aws_smithy_types::base64::encode(out))
    }
}
