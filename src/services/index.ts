// Every module that contributes supervised services registers itself on import; importing this one
// file is how the supervisor (and the systemd renderer) see all of them.
import './proxies.js';
import './publish.js';
import './apps.js';
import './host-services.js';
