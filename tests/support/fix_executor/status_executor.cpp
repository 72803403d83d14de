// QuickFIX's executor example (Application.h/.cpp from Debian's libquickfix-doc, built
// unmodified), with one addition of ours: FIX 4.4 OrderStatusRequest, which the example
// does not answer. It remembers each NewOrderSingle it filled and answers a status
// request with an ExecutionReport (ExecType I): FILLED at the order's price, or
// REJECTED with OrdRejReason 5 (unknown order) for a ClOrdID it never saw.
//
// usage: status_executor SETTINGS_FILE   (runs until SIGTERM or SIGINT)

#include <csignal>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <unistd.h>

#include "Application.h"
#include "quickfix/FileLog.h"
#include "quickfix/FileStore.h"
#include "quickfix/Session.h"
#include "quickfix/SessionSettings.h"
#include "quickfix/SocketAcceptor.h"
#include "quickfix/fix44/ExecutionReport.h"
#include "quickfix/fix44/NewOrderSingle.h"
#include "quickfix/fix44/OrderStatusRequest.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

struct Filled {
  char side;
  double qty;
  double price;
};

class StatusExecutor : public Application {
 public:
  using Application::onMessage;

  void onMessage(const FIX44::NewOrderSingle& message,
                 const FIX::SessionID& sessionID) override {
    Application::onMessage(message, sessionID);  // fills it, or throws (not a limit)
    FIX::ClOrdID clOrdID;
    FIX::Side side;
    FIX::OrderQty qty;
    FIX::Price price;
    message.get(clOrdID);
    message.get(side);
    message.get(qty);
    message.get(price);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_filled[clOrdID.getValue()] = Filled{side.getValue(), qty.getValue(), price.getValue()};
  }

  void onMessage(const FIX44::OrderStatusRequest& message,
                 const FIX::SessionID& sessionID) override {
    FIX::ClOrdID clOrdID;
    FIX::Side side;
    message.get(clOrdID);
    message.get(side);
    Filled filled{side.getValue(), 0, 0};
    bool known = false;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      auto found = m_filled.find(clOrdID.getValue());
      if (found != m_filled.end()) {
        filled = found->second;
        known = true;
      }
    }
    FIX44::ExecutionReport report(
        FIX::OrderID(known ? clOrdID.getValue() : "NONE"), FIX::ExecID(genExecID()),
        FIX::ExecType(FIX::ExecType_ORDER_STATUS),
        FIX::OrdStatus(known ? FIX::OrdStatus_FILLED : FIX::OrdStatus_REJECTED),
        FIX::Side(filled.side), FIX::LeavesQty(0), FIX::CumQty(filled.qty),
        FIX::AvgPx(filled.price));
    report.set(clOrdID);
    if (message.isSetField(FIX::FIELD::Symbol)) {
      report.setField(FIX::Symbol(message.getField(FIX::FIELD::Symbol)));
    }
    if (!known) report.set(FIX::OrdRejReason(FIX::OrdRejReason_UNKNOWN_ORDER));
    try {
      FIX::Session::sendToTarget(report, sessionID);
    } catch (FIX::SessionNotFound&) {
    }
  }

 private:
  std::mutex m_mutex;
  std::map<std::string, Filled> m_filled;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " SETTINGS_FILE" << std::endl;
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  try {
    FIX::SessionSettings settings(argv[1]);
    StatusExecutor application;
    FIX::FileStoreFactory store(settings);
    FIX::FileLogFactory logs(settings);
    FIX::SocketAcceptor acceptor(application, store, settings, logs);
    acceptor.start();
    std::cout << "executor ready" << std::endl;
    while (!g_stop) usleep(50 * 1000);
    acceptor.stop();
    return 0;
  } catch (std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 1;
  }
}
