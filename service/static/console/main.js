/* Southbound officer console: sign in, watch a port's outbound lane, look up a crossing,
   record an inspection outcome; the header follows the service (model, database) and
   raises an alarm when scoring is not possible; analysts download the model report and
   manage the models and lookouts. Talks to API v1 on the same origin.

   The entry point, loaded as a module (deferred: the page is parsed when it runs). Each
   part wires its own controls; the session starts last, since it may sign in again with
   the token this tab kept and the others follow it. */
import { start as startAnalyst } from "./analyst.js";
import { start as startCrossing } from "./crossing.js";
import { start as startLaneControls } from "./lane-controls.js";
import { start as startLane } from "./lane.js";
import { start as startOutcome } from "./outcome.js";
import { start as startReport } from "./report.js";
import { start as startSession } from "./session.js";

startLane();
startLaneControls();
startCrossing();
startOutcome();
startReport();
startAnalyst();
startSession();
