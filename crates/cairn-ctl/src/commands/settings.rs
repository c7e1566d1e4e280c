//! `settings` (Cairn only): shows Cairn's cluster settings, or changes the ones
//! given as flags (through Raft) and shows the result.

use super::Ctx;
use crate::cli::SettingsArgs;
use crate::client::Client;
use crate::error::CtlError;

pub fn run(ctx: &mut Ctx<'_>, a: &SettingsArgs) -> Result<(), CtlError> {
    let (client_settings, _printer) = ctx.globals.client_config(ctx.err)?;
    let timeout = ctx.globals.args.command_timeout;
    let mut client = Client::new(client_settings);
    let current = ctx
        .block_on(client.settings_get(timeout))?
        .map_err(|e| CtlError::error(e.message))?;
    let shown = match a.manual_learner_promotion {
        None => current,
        Some(manual) => {
            let mut wanted = current;
            wanted.manual_learner_promotion = manual;
            ctx.block_on(client.settings_set(timeout, wanted))?
                .map_err(|e| CtlError::error(e.message))?
        }
    };
    let text = format!(
        "manual-learner-promotion: {}\n",
        shown.manual_learner_promotion
    );
    ctx.out
        .write_all(text.as_bytes())
        .map_err(|e| CtlError::error(e.to_string()))
}
