//! Who took part in a conversation, as analytics lists them: drawn on demand from the seed and
//! the conversation's index, never stored.

use rand_chacha::ChaCha8Rng;

use super::draw::{content_rng, person_name, random_uuid};
use super::{Dataset, SimConversation, SimMedia, SimParticipant};

impl Dataset {
    /// Participants of a conversation, in analytics order: customer, then workflow (messaging)
    /// or acd, then one agent per session. Deterministic.
    pub fn participants(&self, conversation: &SimConversation) -> Vec<SimParticipant> {
        let mut rng = content_rng(self.config.seed, conversation.index, 1);
        let mut participants = vec![SimParticipant {
            id: random_uuid(&mut rng),
            purpose: "customer",
            name: person_name(&mut rng),
            user_id: None,
            agent_session: None,
            own_session: Some(random_uuid(&mut rng)),
        }];
        if conversation.media_type == SimMedia::Message {
            let flow = &self.flows[0];
            participants.push(system_participant(&mut rng, "workflow", flow.1.clone()));
        }
        let queue = &self.queues[conversation.queue as usize % self.queues.len()];
        participants.push(system_participant(&mut rng, "acd", queue.1.clone()));
        for (position, session) in conversation.sessions.iter().enumerate() {
            let (user_id, name) = &self.agents[session.agent as usize % self.agents.len()];
            participants.push(SimParticipant {
                id: random_uuid(&mut rng),
                purpose: conversation.agent_purpose(),
                name: name.clone(),
                user_id: Some(*user_id),
                agent_session: Some(position),
                own_session: None,
            });
        }
        participants
    }
}

/// A participant that is no person (a flow, a queue), with a session of its own.
fn system_participant(rng: &mut ChaCha8Rng, purpose: &'static str, name: String) -> SimParticipant {
    SimParticipant {
        id: random_uuid(rng),
        purpose,
        name,
        user_id: None,
        agent_session: None,
        own_session: Some(random_uuid(rng)),
    }
}
