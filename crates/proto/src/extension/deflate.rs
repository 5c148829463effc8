//! permessage-deflate
